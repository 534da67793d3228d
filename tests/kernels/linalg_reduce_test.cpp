// Linalg, reduce and quant reference kernels against plain double-precision loops written here,
// on seeded random data with odd shapes, run through single-node sessions.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "joule/session.h"
#include "runtime/cost_model.h"
#include "runtime/ir/graph.h"
#include "runtime/ops/infer_helpers.h"

using namespace joule;

namespace {

struct Attr {
  std::string name;
  ir::Attribute value;
};
Attr ai(const std::string& n, int64_t v) {
  ir::Attribute a = ir::Attribute::of_int(v);
  return {n, a};
}
Attr af(const std::string& n, float v) {
  ir::Attribute a = ir::Attribute::of_float(v);
  return {n, a};
}
Attr as(const std::string& n, const std::string& v) {
  ir::Attribute a = ir::Attribute::of_string(v);
  return {n, a};
}
Attr ais(const std::string& n, std::vector<int64_t> v) {
  ir::Attribute a = ir::Attribute::of_ints(std::move(v));
  return {n, a};
}

// Runs one node. Undefined tensors in `inputs` are omitted optional inputs; the others are
// graph inputs with their full shapes (so inference errors surface from Session::create).
Status run_op(const std::string& op, const std::vector<Tensor>& inputs, const std::vector<Attr>& attrs, std::vector<Tensor>& out,
              int opset = 17, size_t num_outputs = 1) {
  ir::Graph g;
  g.opset_imports[""] = opset;
  std::vector<ir::Value*> ins;
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      ins.push_back(nullptr);
      continue;
    }
    ir::Value* v = g.add_value("in" + std::to_string(i));
    v->desc = ir::TensorDesc::known(inputs[i].dtype(), inputs[i].shape());
    g.inputs.push_back(v);
    ins.push_back(v);
    feeds.emplace_back(v->name, inputs[i]);
  }
  std::vector<ir::Value*> outs;
  for (size_t i = 0; i < num_outputs; ++i) outs.push_back(g.add_value("out" + std::to_string(i)));
  ir::Node* n = g.add_node(op, ins, outs, "node");
  for (auto& a : attrs) n->attrs[a.name] = a.value;
  for (auto* o : outs) g.outputs.push_back(o);
  std::unique_ptr<Session> sess;
  JOULE_RETURN_IF_ERROR(Session::create(std::move(g), SessionOptions{}, sess));
  return sess->run(feeds, out);
}

Tensor rand_f32(Shape s, uint32_t seed, float lo = -1, float hi = 1) {
  Tensor t(DType::kF32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

Tensor i64(std::vector<int64_t> v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); }

// Element of a row-major tensor at a multi-index (right-aligned broadcasting onto `idx`).
double at(const Tensor& t, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  size_t lead = idx.size() - static_cast<size_t>(t.rank());
  for (size_t d = 0; d < static_cast<size_t>(t.rank()); ++d) off += (t.dim(int(d)) == 1 ? 0 : idx[lead + d]) * ops::strides_of(t.shape())[d];
  return t.value_as_double(off);
}

void expect_close(const Tensor& got, const std::vector<double>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size())) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    double g = got.value_as_double(static_cast<int64_t>(i));
    ASSERT_NEAR(g, want[i], tol * (1 + std::fabs(want[i]))) << what << " element " << i;
  }
}

}  // namespace

// ---------------------------------------------------------------- MatMul / Gemm

TEST(LinalgRef, MatMulMatchesTripleLoopOnOddShapes) {
  const int64_t sizes[] = {1, 3, 17, 255};
  uint32_t seed = 1;
  for (int64_t m : sizes)
    for (int64_t k : sizes)
      for (int64_t n : sizes) {
        Tensor a = rand_f32({m, k}, seed++), b = rand_f32({k, n}, seed++);
        std::vector<Tensor> out;
        ASSERT_TRUE(run_op("MatMul", {a, b}, {}, out).is_ok());
        ASSERT_EQ(out[0].shape(), (Shape{m, n}));
        std::vector<double> want(size_t(m * n), 0.0);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j)
            for (int64_t p = 0; p < k; ++p)
              want[size_t(i * n + j)] += double(a.data<float>()[i * k + p]) * double(b.data<float>()[p * n + j]);
        expect_close(out[0], want, 1e-5, "MatMul " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n));
      }
}

TEST(LinalgRef, MatMulBroadcastsBatchAndPromotesVectors) {
  struct Case {
    Shape a, b, out;
  };
  for (const Case& c : {Case{{2, 1, 3, 5}, {4, 5, 7}, {2, 4, 3, 7}}, Case{{5}, {2, 5, 7}, {2, 7}}, Case{{2, 3, 5}, {5}, {2, 3}},
                        Case{{17}, {17}, {}}, Case{{1, 3, 17}, {3, 17, 1}, {3, 3, 1}}}) {
    Tensor a = rand_f32(c.a, 11), b = rand_f32(c.b, 12);
    std::vector<Tensor> out;
    ASSERT_TRUE(run_op("MatMul", {a, b}, {}, out).is_ok());
    ASSERT_EQ(out[0].shape(), c.out);
    // Expected: promote, broadcast, multiply, then drop promoted dims (same element order).
    Shape pa = a.rank() == 1 ? Shape{1, c.a[0]} : c.a, pb = b.rank() == 1 ? Shape{c.b[0], 1} : c.b;
    Tensor ra = a.reshaped(pa), rb = b.reshaped(pb);
    int64_t m = pa[pa.size() - 2], k = pa.back(), n = pb.back();
    Shape batch = *ops::broadcast_shapes(Shape(pa.begin(), pa.end() - 2), Shape(pb.begin(), pb.end() - 2));
    std::vector<double> want;
    std::vector<int64_t> bidx(batch.size(), 0);
    for (int64_t bi = 0; bi < shape_numel(batch); ++bi) {
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double s = 0;
          for (int64_t p = 0; p < k; ++p) {
            auto ia = bidx, ib = bidx;
            ia.insert(ia.end(), {i, p});
            ib.insert(ib.end(), {p, j});
            s += at(ra, ia) * at(rb, ib);
          }
          want.push_back(s);
        }
      for (size_t d = batch.size(); d-- > 0;) {
        if (++bidx[d] < batch[d]) break;
        bidx[d] = 0;
      }
    }
    expect_close(out[0], want, 1e-5, "MatMul " + shape_to_string(c.a) + " x " + shape_to_string(c.b));
  }
}

TEST(LinalgRef, GemmAttributesAndBiasShapes) {
  const int64_t m = 17, k = 3, n = 255;
  uint32_t seed = 100;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (Shape cshape : {Shape{}, Shape{1}, Shape{n}, Shape{m, 1}, Shape{m, n}, Shape{-1}}) {
        Tensor a = rand_f32(ta ? Shape{k, m} : Shape{m, k}, seed++), b = rand_f32(tb ? Shape{n, k} : Shape{k, n}, seed++);
        bool has_c = cshape != Shape{-1};
        Tensor c = has_c ? rand_f32(cshape, seed++) : Tensor();
        float alpha = 0.75f, beta = -1.5f;
        std::vector<Tensor> out;
        ASSERT_TRUE(run_op("Gemm", {a, b, c}, {ai("transA", ta), ai("transB", tb), af("alpha", alpha), af("beta", beta)}, out).is_ok());
        std::vector<double> want;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t p = 0; p < k; ++p) s += at(a, ta ? std::vector<int64_t>{p, i} : std::vector<int64_t>{i, p}) *
                                                 at(b, tb ? std::vector<int64_t>{j, p} : std::vector<int64_t>{p, j});
            want.push_back(alpha * s + (has_c ? beta * at(c, {i, j}) : 0.0));
          }
        expect_close(out[0], want, 1e-5, "Gemm C " + shape_to_string(cshape));
      }
}

TEST(LinalgRef, IntegerMatMulIsExact) {
  Tensor a(DType::kI32, {3, 17}), b(DType::kI32, {17, 5});
  std::mt19937 rng(5);
  for (int64_t i = 0; i < a.numel(); ++i) a.data<int32_t>()[i] = int32_t(rng() % 2001) - 1000;
  for (int64_t i = 0; i < b.numel(); ++i) b.data<int32_t>()[i] = int32_t(rng() % 2001) - 1000;
  std::vector<Tensor> out;
  ASSERT_TRUE(run_op("MatMul", {a, b}, {}, out).is_ok());
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      int64_t s = 0;
      for (int64_t p = 0; p < 17; ++p) s += int64_t{a.data<int32_t>()[i * 17 + p]} * b.data<int32_t>()[p * 5 + j];
      EXPECT_EQ(out[0].data<int32_t>()[i * 5 + j], s);
    }
}

// ---------------------------------------------------------------- Einsum

// Generic oracle: sums over every assignment of the letters in `letters` (sizes given), with
// `term` giving each operand's letters and `out` the output's.
std::vector<double> einsum_oracle(const std::vector<Tensor>& xs, const std::vector<std::string>& terms, const std::string& out,
                                  const std::map<char, int64_t>& size) {
  std::vector<char> letters;
  for (auto& [c, s] : size) letters.push_back(c);
  Shape oshape;
  for (char c : out) oshape.push_back(size.at(c));
  std::vector<double> y(size_t(shape_numel(oshape)), 0.0);
  std::map<char, int64_t> idx;
  std::function<void(size_t)> rec = [&](size_t li) {
    if (li == letters.size()) {
      double p = 1;
      for (size_t k = 0; k < xs.size(); ++k) {
        std::vector<int64_t> ix;
        for (char c : terms[k]) ix.push_back(idx[c]);
        p *= at(xs[k], ix);
      }
      int64_t o = 0;
      for (char c : out) o = o * size.at(c) + idx[c];
      y[size_t(o)] += p;
      return;
    }
    for (int64_t v = 0; v < size.at(letters[li]); ++v) {
      idx[letters[li]] = v;
      rec(li + 1);
    }
  };
  rec(0);
  return y;
}

TEST(LinalgRef, EinsumPatternsMatchExplicitLoops) {
  struct Case {
    std::string eq;                  // as given to the op
    std::vector<std::string> terms;  // oracle terms ('...' spelled with letters)
    std::string out;
    std::map<char, int64_t> size;
  };
  std::vector<Case> cases = {
      {"bhid,bhjd->bhij", {"bhid", "bhjd"}, "bhij", {{'b', 2}, {'h', 3}, {'i', 5}, {'j', 7}, {'d', 17}}},
      {"bhij,bhjd->bhid", {"bhij", "bhjd"}, "bhid", {{'b', 1}, {'h', 3}, {'i', 5}, {'j', 7}, {'d', 4}}},
      {"bij,bjk->bik", {"bij", "bjk"}, "bik", {{'b', 3}, {'i', 17}, {'j', 5}, {'k', 2}}},
      {"ij->ji", {"ij"}, "ji", {{'i', 3}, {'j', 17}}},
      {"ii->i", {"ii"}, "i", {{'i', 17}}},
      {"...ii->...i", {"xyii"}, "xyi", {{'x', 2}, {'y', 3}, {'i', 5}}},
      {"ij,jk", {"ij", "jk"}, "ik", {{'i', 3}, {'j', 17}, {'k', 5}}},
      {"i,i", {"i", "i"}, "", {{'i', 255}}},
      {"abc->", {"abc"}, "", {{'a', 3}, {'b', 1}, {'c', 17}}},
      {"ij,jk,kl->il", {"ij", "jk", "kl"}, "il", {{'i', 3}, {'j', 4}, {'k', 5}, {'l', 2}}},
      {"ii", {"ii"}, "", {{'i', 7}}},  // implicit trace
      {"b...j,bjk->b...k", {"bxj", "bjk"}, "bxk", {{'b', 2}, {'x', 3}, {'j', 5}, {'k', 4}}},
  };
  uint32_t seed = 200;
  for (const Case& c : cases) {
    std::vector<Tensor> xs;
    for (auto& t : c.terms) {
      Shape s;
      for (char ch : t) s.push_back(c.size.at(ch));
      xs.push_back(rand_f32(s, seed++));
    }
    std::vector<Tensor> out;
    Status st = run_op("Einsum", xs, {as("equation", c.eq)}, out, 12);
    ASSERT_TRUE(st.is_ok()) << c.eq << ": " << st.message();
    expect_close(out[0], einsum_oracle(xs, c.terms, c.out, c.size), 1e-5, c.eq);
  }
}

TEST(LinalgRef, EinsumRejectsBadEquations) {
  std::vector<Tensor> out;
  EXPECT_FALSE(run_op("Einsum", {rand_f32({3, 4}, 1)}, {as("equation", "ijk->i")}, out, 12).is_ok());    // rank mismatch
  EXPECT_FALSE(run_op("Einsum", {rand_f32({3, 4}, 1), rand_f32({5, 6}, 2)}, {as("equation", "ij,jk")}, out, 12).is_ok());  // j: 4 vs 5
  EXPECT_FALSE(run_op("Einsum", {rand_f32({3, 4}, 1)}, {as("equation", "ij->iz")}, out, 12).is_ok());    // unknown output label
  EXPECT_FALSE(run_op("Einsum", {rand_f32({3, 4}, 1)}, {as("equation", "ij->ii")}, out, 12).is_ok());    // repeated output label
}

// ---------------------------------------------------------------- Reductions

namespace {

// Reduces x over `axes` (already normalized; empty = all) with the named op, in double.
std::vector<double> reduce_oracle(const std::string& op, const Tensor& x, const std::vector<bool>& red) {
  Shape s = x.shape();
  Shape keep = s;
  for (size_t d = 0; d < s.size(); ++d)
    if (red[d]) keep[d] = 1;
  int64_t n_out = shape_numel(keep);
  std::vector<std::vector<double>> groups(static_cast<size_t>(n_out));
  std::vector<int64_t> idx(s.size(), 0);
  auto kst = ops::strides_of(keep);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t o = 0;
    for (size_t d = 0; d < s.size(); ++d) o += (red[d] ? 0 : idx[d]) * kst[d];
    groups[size_t(o)].push_back(x.value_as_double(i));
    for (size_t d = s.size(); d-- > 0;) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
  std::vector<double> y;
  for (auto& g : groups) {
    double sum = 0, prod = 1, mx = -INFINITY, mn = INFINITY, l1 = 0, sq = 0;
    for (double v : g) {
      sum += v;
      prod *= v;
      mx = std::max(mx, v);
      mn = std::min(mn, v);
      l1 += std::fabs(v);
      sq += v * v;
    }
    double lse = 0;
    for (double v : g) lse += std::exp(v);
    std::map<std::string, double> r = {{"ReduceSum", sum},          {"ReduceMean", sum / double(g.size())},
                                       {"ReduceProd", prod},        {"ReduceMax", mx},
                                       {"ReduceMin", mn},           {"ReduceL1", l1},
                                       {"ReduceL2", std::sqrt(sq)}, {"ReduceSumSquare", sq},
                                       {"ReduceLogSum", std::log(sum)}, {"ReduceLogSumExp", std::log(lse)}};
    y.push_back(r.at(op));
  }
  return y;
}

}  // namespace

TEST(ReduceRef, AllReduceOpsOverSeveralAxisSets) {
  const Shape shape{3, 1, 17, 5};
  const std::vector<std::vector<int64_t>> axis_sets = {{}, {0}, {2}, {-1}, {1, 2}, {0, 2, 3}, {0, 1, 2, 3}};
  uint32_t seed = 300;
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceProd", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2",
                         "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"}) {
    bool positive = std::string(op) == "ReduceLogSum" || std::string(op) == "ReduceProd";
    Tensor x = rand_f32(shape, seed++, positive ? 0.5f : -2.0f, positive ? 1.5f : 2.0f);
    for (auto& axes : axis_sets)
      for (int keep = 0; keep < 2; ++keep)
        for (int opset : {13, 18}) {
          std::vector<bool> red(4, axes.empty());
          for (int64_t a : axes) red[size_t(a < 0 ? a + 4 : a)] = true;
          bool as_input = std::string(op) == "ReduceSum" ? opset >= 13 : opset >= 18;
          std::vector<Tensor> out;
          std::vector<Attr> attrs = {ai("keepdims", keep)};
          std::vector<Tensor> ins = {x};
          if (as_input) {
            if (!axes.empty()) ins.push_back(i64(axes));
          } else if (!axes.empty()) {
            attrs.push_back(ais("axes", axes));
          }
          Status st = run_op(op, ins, attrs, out, opset);
          ASSERT_TRUE(st.is_ok()) << op << ": " << st.message();
          Shape want_shape;
          for (size_t d = 0; d < 4; ++d)
            if (!red[d]) want_shape.push_back(shape[d]);
            else if (keep) want_shape.push_back(1);
          ASSERT_EQ(out[0].shape(), want_shape) << op;
          expect_close(out[0], reduce_oracle(op, x, red), 2e-5, std::string(op) + " opset " + std::to_string(opset));
        }
  }
}

TEST(ReduceRef, EmptyAxesNoopAndEmptySet) {
  Tensor x = rand_f32({3, 5}, 7);
  std::vector<Tensor> out;
  ASSERT_TRUE(run_op("ReduceSum", {x, i64({})}, {ai("noop_with_empty_axes", 1)}, out, 13).is_ok());
  expect_close(out[0], reduce_oracle("ReduceMax", x, {false, false}), 0, "noop");
  Tensor empty(DType::kF32, {0, 4});
  for (auto [op, want] : std::vector<std::pair<std::string, double>>{{"ReduceSum", 0.0}, {"ReduceProd", 1.0}, {"ReduceMax", -INFINITY},
                                                                      {"ReduceMin", INFINITY}, {"ReduceLogSumExp", -INFINITY}}) {
    ASSERT_TRUE(run_op(op, {empty}, {ais("axes", {0})}, out, 12).is_ok()) << op;  // axes as attribute
    ASSERT_EQ(out[0].shape(), (Shape{1, 4}));
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(out[0].data<float>()[i], want) << op;
  }
}

TEST(ReduceRef, ArgMaxTopKCumSum) {
  Tensor x = Tensor::from_vector<float>({2, 5}, {1, 3, 3, 0, 2, 4, 4, -1, 4, 0});
  std::vector<Tensor> out;
  ASSERT_TRUE(run_op("ArgMax", {x}, {ai("axis", 1)}, out, 13).is_ok());
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{1, 0}));
  ASSERT_TRUE(run_op("ArgMax", {x}, {ai("axis", 1), ai("select_last_index", 1), ai("keepdims", 0)}, out, 13).is_ok());
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{2, 3}));
  ASSERT_TRUE(run_op("ArgMin", {x}, {ai("axis", -1)}, out, 13).is_ok());
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{3, 2}));
  ASSERT_TRUE(run_op("TopK", {x, i64({3})}, {}, out, 11, 2).is_ok());
  EXPECT_EQ(out[1].to_int64_vector(), (std::vector<int64_t>{1, 2, 4, 0, 1, 3}));  // ties: lower index first
  ASSERT_TRUE(run_op("TopK", {x, i64({2})}, {ai("largest", 0)}, out, 11, 2).is_ok());
  EXPECT_EQ(out[1].to_int64_vector(), (std::vector<int64_t>{3, 0, 2, 4}));
  ASSERT_TRUE(run_op("TopK", {x}, {ai("k", 1), ai("axis", 0)}, out, 9, 2).is_ok());
  EXPECT_EQ(out[1].to_int64_vector(), (std::vector<int64_t>{1, 1, 0, 1, 0}));
  ASSERT_TRUE(run_op("CumSum", {x, Tensor::scalar<int32_t>(1)}, {ai("exclusive", 1), ai("reverse", 1)}, out, 14).is_ok());
  expect_close(out[0], {8, 5, 2, 2, 0, 7, 3, 4, 0, 0}, 0, "CumSum exclusive reverse");
}

// ---------------------------------------------------------------- Quantization

TEST(QuantRef, QuantizeDequantizeRoundTripIsBitExact) {
  struct Case {
    DType qt;
    bool per_axis;
  };
  uint32_t seed = 400;
  for (Case c : {Case{DType::kU8, false}, Case{DType::kI8, false}, Case{DType::kU8, true}, Case{DType::kI8, true}}) {
    const Shape shape{3, 17, 5};
    Tensor x = rand_f32(shape, seed++, -3, 3);
    // Include exact ties (k + 0.5) * scale to exercise round-half-to-even.
    for (int64_t i = 0; i < 10; ++i) x.data<float>()[i] = (float(i) - 4.5f) * 0.25f;
    int64_t np = c.per_axis ? 17 : 1;
    Tensor scale(DType::kF32, c.per_axis ? Shape{17} : Shape{});
    Tensor zp(c.qt, c.per_axis ? Shape{17} : Shape{});
    std::mt19937 rng(seed++);
    for (int64_t p = 0; p < np; ++p) {
      scale.data<float>()[p] = p == 0 ? 0.25f : 0.01f + float(rng() % 100) / 1000.0f;
      if (c.qt == DType::kU8) zp.data<uint8_t>()[p] = uint8_t(rng() % 256);
      else zp.data<int8_t>()[p] = int8_t(int(rng() % 256) - 128);
    }
    std::vector<Tensor> q, dq, q2;
    ASSERT_TRUE(run_op("QuantizeLinear", {x, scale, zp}, {ai("axis", 1)}, q, 13).is_ok());
    ASSERT_EQ(q[0].dtype(), c.qt);
    int lo = c.qt == DType::kU8 ? 0 : -128, hi = c.qt == DType::kU8 ? 255 : 127;
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t p = c.per_axis ? (i / 5) % 17 : 0;
      float s = scale.data<float>()[p];
      double z = zp.value_as_double(p);
      double want = std::clamp(std::nearbyint(double(x.data<float>()[i] / s)) + z, double(lo), double(hi));
      ASSERT_EQ(q[0].value_as_double(i), want) << "element " << i;
    }
    ASSERT_TRUE(run_op("DequantizeLinear", {q[0], scale, zp}, {ai("axis", 1)}, dq, 13).is_ok());
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t p = c.per_axis ? (i / 5) % 17 : 0;
      ASSERT_EQ(dq[0].data<float>()[i], float(q[0].value_as_double(i) - zp.value_as_double(p)) * scale.data<float>()[p]);
    }
    ASSERT_TRUE(run_op("QuantizeLinear", {dq[0], scale, zp}, {ai("axis", 1)}, q2, 13).is_ok());
    for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(q2[0].value_as_double(i), q[0].value_as_double(i)) << "round trip " << i;
  }
  // The ties: x/0.25 = -18..18 step 1 ... spot-check half-to-even on a plain scale of 1.
  Tensor t = Tensor::from_vector<float>({6}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300.0f});
  std::vector<Tensor> q;
  ASSERT_TRUE(run_op("QuantizeLinear", {t, Tensor::scalar<float>(1.0f), Tensor::scalar<int8_t>(0)}, {}, q, 13).is_ok());
  EXPECT_EQ(q[0].to_int64_vector(), (std::vector<int64_t>{0, 2, 2, 0, -2, 127}));
}

TEST(QuantRef, Int4PerBlockRoundTrip) {
  const Shape shape{4, 6};  // blocks of 4 along axis 1 -> 2 blocks (the last one short)
  Tensor x = rand_f32(shape, 9, -1, 1);
  Tensor scale = Tensor::from_vector<float>({4, 2}, {0.1f, 0.2f, 0.15f, 0.05f, 0.3f, 0.12f, 0.2f, 0.08f});
  Tensor zp(DType::kI4, {4, 2});  // all zero
  std::vector<Tensor> q, dq;
  std::vector<Attr> attrs = {ai("axis", 1), ai("block_size", 4)};
  ASSERT_TRUE(run_op("QuantizeLinear", {x, scale, zp}, attrs, q, 21).is_ok());
  ASSERT_EQ(q[0].dtype(), DType::kI4);
  ASSERT_TRUE(run_op("DequantizeLinear", {q[0], scale, zp}, attrs, dq, 21).is_ok());
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 6; ++c) {
      float s = scale.data<float>()[r * 2 + c / 4];
      double qv = std::clamp(std::nearbyint(double(x.data<float>()[r * 6 + c] / s)), -8.0, 7.0);
      EXPECT_EQ(dq[0].data<float>()[r * 6 + c], float(qv) * s) << r << "," << c;
    }
}

TEST(QuantRef, QLinearMatMulMatchesFloatFormula) {
  Tensor a(DType::kU8, {3, 17}), b(DType::kU8, {17, 5});
  std::mt19937 rng(21);
  for (int64_t i = 0; i < a.numel(); ++i) a.data<uint8_t>()[i] = uint8_t(rng());
  for (int64_t i = 0; i < b.numel(); ++i) b.data<uint8_t>()[i] = uint8_t(rng());
  float as_ = 0.02f, bs = 0.01f, ys = 0.5f;
  uint8_t az = 120, bz = 130, yz = 100;
  std::vector<Tensor> out, mi;
  ASSERT_TRUE(run_op("QLinearMatMul", {a, Tensor::scalar(as_), Tensor::scalar(az), b, Tensor::scalar(bs), Tensor::scalar(bz),
                                       Tensor::scalar(ys), Tensor::scalar(yz)}, {}, out, 10).is_ok());
  ASSERT_TRUE(run_op("MatMulInteger", {a, b, Tensor::scalar(az), Tensor::scalar(bz)}, {}, mi, 10).is_ok());
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      int64_t acc = 0;
      for (int64_t p = 0; p < 17; ++p) acc += (int64_t{a.data<uint8_t>()[i * 17 + p]} - az) * (int64_t{b.data<uint8_t>()[p * 5 + j]} - bz);
      EXPECT_EQ(mi[0].data<int32_t>()[i * 5 + j], acc);
      double want = std::clamp(std::nearbyint(double(acc) * double(as_ * bs / ys)) + yz, 0.0, 255.0);
      EXPECT_EQ(out[0].data<uint8_t>()[i * 5 + j], want);
    }
}

// ---------------------------------------------------------------- Error cases

TEST(LinalgReduceErrors, BadShapesAndAxesGiveCleanErrors) {
  std::vector<Tensor> out;
  Status st = run_op("MatMul", {rand_f32({3, 4}, 1), rand_f32({5, 6}, 2)}, {}, out);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("inner dimensions"), std::string::npos) << st.message();

  st = run_op("Gemm", {rand_f32({3, 4}, 1), rand_f32({4, 6}, 2), rand_f32({5}, 3)}, {}, out);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("cannot be broadcast"), std::string::npos) << st.message();

  st = run_op("ReduceSum", {rand_f32({3, 4}, 1), i64({2})}, {}, out, 13);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.message();

  st = run_op("ReduceMean", {rand_f32({3, 4}, 1)}, {ais("axes", {-3})}, out, 13);
  EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.message();

  st = run_op("ArgMax", {rand_f32({3, 4}, 1)}, {ai("axis", 2)}, out, 13);
  EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.message();

  st = run_op("TopK", {rand_f32({3, 4}, 1), i64({5})}, {}, out, 11, 2);
  EXPECT_FALSE(st.is_ok());

  st = run_op("CumSum", {rand_f32({3, 4}, 1), Tensor::scalar<int64_t>(2)}, {}, out, 14);
  EXPECT_FALSE(st.is_ok());

  st = run_op("QuantizeLinear", {rand_f32({3, 4}, 1), rand_f32({3}, 2), Tensor(DType::kU8, {3})}, {ai("axis", 1)}, out, 13);
  EXPECT_NE(st.message().find("per-axis scale"), std::string::npos) << st.message();
}

// ---------------------------------------------------------------- Integer convolution

TEST(QuantRef, QLinearConvGroupedStridedPerChannelMatchesLoops) {
  // x: 1 x 4 x 7 x 6 (uint8), w: 6 x 2 x 3 x 2 (int8), group 2, strides (2,1), dilations (1,2), pads (1,0,2,1).
  const int64_t C = 4, H = 7, W = 6, OC = 6, G = 2, KH = 3, KW = 2;
  const int64_t sh = 2, sw = 1, dh = 1, dw = 2, pt = 1, pl = 0, pb = 2, pr = 1;
  const int64_t OH = (H + pt + pb - ((KH - 1) * dh + 1)) / sh + 1, OW = (W + pl + pr - ((KW - 1) * dw + 1)) / sw + 1;
  Tensor x(DType::kU8, {1, C, H, W}), w(DType::kI8, {OC, C / G, KH, KW});
  std::mt19937 rng(33);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = uint8_t(rng());
  for (int64_t i = 0; i < w.numel(); ++i) w.data<int8_t>()[i] = int8_t(rng());
  Tensor ws(DType::kF32, {OC}), bias(DType::kI32, {OC});
  for (int64_t o = 0; o < OC; ++o) {
    ws.data<float>()[o] = 0.001f * float(1 + o);
    bias.data<int32_t>()[o] = int32_t(rng() % 2001) - 1000;
  }
  float xs = 0.05f, ys = 0.7f;
  uint8_t xz = 128, yz = 90;
  std::vector<Attr> attrs = {ai("group", G), ais("strides", {sh, sw}), ais("dilations", {dh, dw}), ais("pads", {pt, pl, pb, pr})};
  std::vector<Tensor> q, ci;
  Status st = run_op("QLinearConv", {x, Tensor::scalar(xs), Tensor::scalar(xz), w, ws, Tensor::scalar<int8_t>(0), Tensor::scalar(ys),
                                     Tensor::scalar(yz), bias}, attrs, q, 10);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_TRUE(run_op("ConvInteger", {x, w, Tensor::scalar(xz)}, attrs, ci, 10).is_ok());
  ASSERT_EQ(q[0].shape(), (Shape{1, OC, OH, OW}));
  for (int64_t o = 0; o < OC; ++o)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t acc = 0, g = o / (OC / G);
        for (int64_t c = 0; c < C / G; ++c)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              int64_t ih = oh * sh - pt + kh * dh, iw = ow * sw - pl + kw * dw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              acc += (int64_t{x.data<uint8_t>()[((g * (C / G) + c) * H + ih) * W + iw]} - xz) *
                     w.data<int8_t>()[((o * (C / G) + c) * KH + kh) * KW + kw];
            }
        int64_t oi = (o * OH + oh) * OW + ow;
        EXPECT_EQ(ci[0].data<int32_t>()[oi], acc);
        float mult = xs * ws.data<float>()[o] / ys;
        double want = std::clamp(std::nearbyint(double(acc + bias.data<int32_t>()[o]) * double(mult)) + yz, 0.0, 255.0);
        EXPECT_EQ(q[0].data<uint8_t>()[oi], want) << o << "," << oh << "," << ow;
      }
}

TEST(LinalgRef, EinsumMacCount) {
  ir::Graph g;
  g.opset_imports[""] = 12;
  ir::Value* q = g.add_value("q");
  ir::Value* k = g.add_value("k");
  ir::Value* y = g.add_value("y");
  q->desc = ir::TensorDesc::known(DType::kF32, {2, 3, 5, 17});
  k->desc = ir::TensorDesc::known(DType::kF32, {2, 3, 7, 17});
  ir::Node* n = g.add_node("Einsum", {q, k}, {y}, "e");
  n->attrs["equation"] = as("equation", "bhid,bhjd->bhij").value;
  EXPECT_EQ(node_macs(*n), 2 * 3 * 5 * 7 * 17);
}
