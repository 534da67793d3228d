// Shape and index ops run through a Session on seeded random data with odd shapes, checked
// against index arithmetic written here; plus the clean errors hostile shapes/indices must give.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "joule/session.h"
#include "runtime/ir/graph.h"

using namespace joule;

namespace {

// ---- a one-node graph builder ------------------------------------------------------------------

class OpGraph {
 public:
  explicit OpGraph(std::string op, int opset = 17) : op_(std::move(op)) { g_.opset_imports[""] = opset; }

  // A runtime input (its shape is declared, so inference sees it; its value only at run time).
  OpGraph& input(const Tensor& t) {
    ir::Value* v = g_.add_value("in" + std::to_string(ins_.size()));
    v->desc = ir::TensorDesc::known(t.dtype(), t.shape());
    g_.inputs.push_back(v);
    feeds_.emplace_back(v->name, t);
    ins_.push_back(v);
    return *this;
  }
  // A constant input (known at load time: folded or inferred statically).
  OpGraph& constant(const Tensor& t) {
    ins_.push_back(g_.add_constant("c" + std::to_string(ins_.size()), t));
    return *this;
  }
  OpGraph& omitted() {
    ins_.push_back(nullptr);
    return *this;
  }
  OpGraph& attr(const std::string& name, int64_t v) {
    ir::Attribute a = ir::Attribute::of_int(v);
    attrs_[name] = a;
    return *this;
  }
  OpGraph& attr(const std::string& name, std::vector<int64_t> v) {
    ir::Attribute a = ir::Attribute::of_ints(std::move(v));
    attrs_[name] = a;
    return *this;
  }
  OpGraph& attr(const std::string& name, const std::string& v) {
    ir::Attribute a = ir::Attribute::of_string(v);
    attrs_[name] = a;
    return *this;
  }
  OpGraph& attr(const std::string& name, const Tensor& t) {
    ir::Attribute a = ir::Attribute::of_tensor(t);
    attrs_[name] = a;
    return *this;
  }

  static SessionOptions options() {
    SessionOptions o;
    o.threads = 1;
    return o;
  }
  // Builds the session and runs it once; returns the first error (create or run).
  Status run(std::vector<Tensor>& outs, size_t num_outputs = 1) {
    std::vector<ir::Value*> o;
    for (size_t i = 0; i < num_outputs; ++i) o.push_back(g_.add_value("out" + std::to_string(i)));
    ir::Node* n = g_.add_node(op_, ins_, o, "node");
    n->attrs = attrs_;
    g_.outputs = o;
    std::unique_ptr<Session> sess;
    JOULE_RETURN_IF_ERROR(Session::create(std::move(g_), options(), sess));
    return sess->run(feeds_, outs);
  }
  Tensor run1() {
    std::vector<Tensor> outs;
    Status st = run(outs);
    EXPECT_TRUE(st.is_ok()) << st.message();
    return outs.empty() ? Tensor() : outs[0];
  }

 private:
  std::string op_;
  ir::Graph g_;
  std::vector<ir::Value*> ins_;
  std::vector<std::pair<std::string, Tensor>> feeds_;
  std::map<std::string, ir::Attribute> attrs_;
};

// ---- data and index helpers -------------------------------------------------------------------

Tensor random_f32(const Shape& s, std::mt19937& rng) {
  Tensor t(DType::kF32, s);
  std::uniform_real_distribution<float> d(-100, 100);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

Tensor i64(const std::vector<int64_t>& v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); }

Shape random_shape(int rank, std::mt19937& rng, int64_t max_numel = 6000) {
  const int64_t dims[] = {1, 3, 17, 255};
  Shape s;
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) {
    int64_t d = dims[rng() % 4];
    while (n * d > max_numel) d = d == 255 ? 17 : (d == 17 ? 3 : 1);
    s.push_back(d);
    n *= d;
  }
  return s;
}

std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}

int64_t ravel(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t off = 0;
  for (size_t d = 0; d < s.size(); ++d) off = off * s[d] + idx[d];
  return off;
}

// Slice indices of one dim by walking the range, following the ONNX Slice text (which differs
// from Python for a negative step and a start below -dim: ONNX clamps that start to 0).
std::vector<int64_t> slice_indices(int64_t dim, int64_t s, int64_t e, int64_t step) {
  if (s < 0) s += dim;
  if (e < 0) e += dim;
  std::vector<int64_t> out;
  if (step > 0) {
    s = std::clamp<int64_t>(s, 0, dim);
    e = std::clamp<int64_t>(e, 0, dim);
    for (int64_t i = s; i < e; i += step) out.push_back(i);
  } else {
    s = std::clamp<int64_t>(s, 0, dim - 1);
    e = std::clamp<int64_t>(e, -1, dim - 1);
    for (int64_t i = s; i > e; i += step) out.push_back(i);
  }
  return out;
}

}  // namespace

// ---- data movement -------------------------------------------------------------------------------

TEST(ShapeOps, TransposeRandomPermsRank1To5) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 60; ++trial) {
    const int r = 1 + trial % 5;
    Shape s = random_shape(r, rng);
    std::vector<int64_t> perm(static_cast<size_t>(r));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    Tensor x = random_f32(s, rng);
    Tensor y = OpGraph("Transpose").input(x).attr("perm", perm).run1();
    Shape want_shape;
    for (int64_t p : perm) want_shape.push_back(s[static_cast<size_t>(p)]);
    ASSERT_EQ(y.shape(), want_shape);
    for (int64_t i = 0; i < y.numel(); ++i) {
      auto oi = unravel(i, want_shape);
      std::vector<int64_t> ii(static_cast<size_t>(r));
      for (int d = 0; d < r; ++d) ii[static_cast<size_t>(perm[static_cast<size_t>(d)])] = oi[static_cast<size_t>(d)];
      ASSERT_EQ(y.data<float>()[i], x.data<float>()[ravel(ii, s)]) << "trial " << trial << " element " << i;
    }
  }
}

TEST(ShapeOps, TransposeDefaultPermReversesAndMovesInt64AndFloat16) {
  std::mt19937 rng(12);
  Tensor x(DType::kI64, {3, 17, 1});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<int64_t>()[i] = static_cast<int64_t>(rng()) << 20;
  Tensor y = OpGraph("Transpose").input(x).run1();
  ASSERT_EQ(y.shape(), (Shape{1, 17, 3}));
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t b = 0; b < 17; ++b) EXPECT_EQ(y.data<int64_t>()[b * 3 + a], x.data<int64_t>()[a * 17 + b]);
  Tensor h(DType::kF16, {3, 5});
  for (int64_t i = 0; i < h.numel(); ++i) h.data<Half>()[i] = Half(static_cast<float>(i) - 7.5f);
  Tensor hy = OpGraph("Transpose").input(h).run1();
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t b = 0; b < 5; ++b) EXPECT_EQ(hy.data<Half>()[b * 3 + a].bits, h.data<Half>()[a * 5 + b].bits);
}

TEST(ShapeOps, SliceRandomStepsAxesAndClamping) {
  std::mt19937 rng(21);
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  for (int trial = 0; trial < 80; ++trial) {
    const int r = 1 + trial % 4;
    Shape s = random_shape(r, rng);
    Tensor x = random_f32(s, rng);
    std::vector<int64_t> axes, starts, ends, steps;
    for (int d = 0; d < r; ++d) {
      if (rng() % 3 == 0) continue;  // leave some axes unsliced
      axes.push_back(rng() % 2 ? d : d - r);  // negative axes too
      int64_t dim = s[static_cast<size_t>(d)];
      auto pick = [&]() -> int64_t {
        switch (rng() % 6) {
          case 0: return big;
          case 1: return small;
          default: return static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * dim + 5)) - dim - 2;
        }
      };
      starts.push_back(pick());
      ends.push_back(pick());
      int64_t st = static_cast<int64_t>(rng() % 4) + 1;
      steps.push_back(rng() % 2 ? st : -st);
    }
    // Half the trials feed starts/ends/axes/steps at run time (exercising needs_value).
    OpGraph g("Slice");
    g.input(x);
    if (trial % 2) g.constant(i64(starts)).constant(i64(ends)).constant(i64(axes)).constant(i64(steps));
    else g.input(i64(starts)).input(i64(ends)).input(i64(axes)).input(i64(steps));
    Tensor y = g.run1();
    std::vector<std::vector<int64_t>> picks(static_cast<size_t>(r));
    for (int d = 0; d < r; ++d) {
      picks[static_cast<size_t>(d)].resize(static_cast<size_t>(s[static_cast<size_t>(d)]));
      std::iota(picks[static_cast<size_t>(d)].begin(), picks[static_cast<size_t>(d)].end(), 0);
    }
    for (size_t k = 0; k < axes.size(); ++k) {
      size_t d = static_cast<size_t>(axes[k] < 0 ? axes[k] + r : axes[k]);
      picks[d] = slice_indices(s[d], starts[k], ends[k], steps[k]);
    }
    Shape want;
    for (auto& p : picks) want.push_back(static_cast<int64_t>(p.size()));
    ASSERT_EQ(y.shape(), want) << "trial " << trial;
    for (int64_t i = 0; i < y.numel(); ++i) {
      auto oi = unravel(i, want);
      std::vector<int64_t> ii(static_cast<size_t>(r));
      for (size_t d = 0; d < oi.size(); ++d) ii[d] = picks[d][static_cast<size_t>(oi[d])];
      ASSERT_EQ(y.data<float>()[i], x.data<float>()[ravel(ii, s)]) << "trial " << trial;
    }
  }
}

TEST(ShapeOps, SliceAttributesBeforeOpset10) {
  std::mt19937 rng(22);
  Tensor x = random_f32({17, 3}, rng);
  Tensor y = OpGraph("Slice", 9).input(x).attr("starts", std::vector<int64_t>{-5, 1}).attr("ends", std::vector<int64_t>{1000, 2}).run1();
  ASSERT_EQ(y.shape(), (Shape{5, 1}));
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(y.data<float>()[i], x.data<float>()[(12 + i) * 3 + 1]);
}

TEST(ShapeOps, ReshapeFlattenSqueezeUnsqueezeKeepBytes) {
  std::mt19937 rng(31);
  Tensor x = random_f32({3, 17, 1, 5}, rng);
  Tensor y = OpGraph("Reshape").input(x).constant(i64({0, -1, 5})).run1();
  EXPECT_EQ(y.shape(), (Shape{3, 17, 5}));
  EXPECT_EQ(std::memcmp(y.raw(), x.raw(), x.nbytes()), 0);
  EXPECT_EQ(OpGraph("Reshape").input(x).input(i64({-1})).run1().shape(), (Shape{255}));
  EXPECT_EQ(OpGraph("Flatten").input(x).attr("axis", int64_t{-2}).run1().shape(), (Shape{51, 5}));
  EXPECT_EQ(OpGraph("Squeeze").input(x).run1().shape(), (Shape{3, 17, 5}));
  EXPECT_EQ(OpGraph("Squeeze", 11).input(x).attr("axes", std::vector<int64_t>{-2}).run1().shape(), (Shape{3, 17, 5}));
  EXPECT_EQ(OpGraph("Unsqueeze").input(x).constant(i64({0, -1})).run1().shape(), (Shape{1, 3, 17, 1, 5, 1}));
  Tensor z = OpGraph("Unsqueeze", 11).input(x).attr("axes", std::vector<int64_t>{2}).run1();
  EXPECT_EQ(z.shape(), (Shape{3, 17, 1, 1, 5}));
  EXPECT_EQ(std::memcmp(z.raw(), x.raw(), x.nbytes()), 0);
  Tensor e(DType::kF32, {0, 3});
  EXPECT_EQ(OpGraph("Reshape").input(e).constant(i64({3, 0})).attr("allowzero", int64_t{1}).run1().shape(), (Shape{3, 0}));
}

TEST(ShapeOps, ConcatAndSplitRoundTrip) {
  std::mt19937 rng(41);
  for (int axis = -3; axis < 3; ++axis) {
    Tensor a = random_f32({3, 17, 5}, rng);
    Shape sb = a.shape();
    sb[static_cast<size_t>(axis < 0 ? axis + 3 : axis)] = 1;
    Tensor b = random_f32(sb, rng);
    Tensor c = OpGraph("Concat").input(a).input(b).attr("axis", int64_t{axis}).run1();
    size_t ax = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
    for (int64_t i = 0; i < c.numel(); ++i) {
      auto idx = unravel(i, c.shape());
      float want = idx[ax] < a.shape()[ax] ? a.data<float>()[ravel(idx, a.shape())]
                                            : (idx[ax] -= a.shape()[ax], b.data<float>()[ravel(idx, b.shape())]);
      ASSERT_EQ(c.data<float>()[i], want);
    }
    std::vector<Tensor> parts;
    ASSERT_TRUE(OpGraph("Split").input(c).constant(i64({a.shape()[ax], 1})).attr("axis", int64_t{axis}).run(parts, 2).is_ok());
    EXPECT_EQ(std::memcmp(parts[0].raw(), a.raw(), a.nbytes()), 0);
    EXPECT_EQ(std::memcmp(parts[1].raw(), b.raw(), b.nbytes()), 0);
  }
  // num_outputs (opset 18) with an uneven last chunk: 17 -> 5, 5, 5, 2.
  Tensor x = random_f32({17}, rng);
  std::vector<Tensor> parts;
  ASSERT_TRUE(OpGraph("Split", 18).input(x).attr("num_outputs", int64_t{4}).run(parts, 4).is_ok());
  ASSERT_EQ(parts[3].shape(), (Shape{2}));
  EXPECT_EQ(parts[3].data<float>()[1], x.data<float>()[16]);
}

TEST(ShapeOps, ExpandTileDepthSpace) {
  std::mt19937 rng(51);
  Tensor x = random_f32({3, 1, 5}, rng);
  Tensor e = OpGraph("Expand").input(x).input(i64({2, 1, 17, 1})).run1();
  ASSERT_EQ(e.shape(), (Shape{2, 3, 17, 5}));
  for (int64_t i = 0; i < e.numel(); ++i) {
    auto idx = unravel(i, e.shape());
    ASSERT_EQ(e.data<float>()[i], x.data<float>()[idx[1] * 5 + idx[3]]);
  }
  Tensor t = OpGraph("Tile").input(x).constant(i64({2, 3, 1})).run1();
  ASSERT_EQ(t.shape(), (Shape{6, 3, 5}));
  for (int64_t i = 0; i < t.numel(); ++i) {
    auto idx = unravel(i, t.shape());
    ASSERT_EQ(t.data<float>()[i], x.data<float>()[(idx[0] % 3) * 5 + idx[2]]);
  }
  // DepthToSpace CRD by formula; DCR is the inverse of SpaceToDepth.
  const int64_t b = 3;
  Tensor d = random_f32({2, 18, 1, 5}, rng);
  Tensor crd = OpGraph("DepthToSpace").input(d).attr("blocksize", b).attr("mode", std::string("CRD")).run1();
  ASSERT_EQ(crd.shape(), (Shape{2, 2, 3, 15}));
  for (int64_t i = 0; i < crd.numel(); ++i) {
    auto o = unravel(i, crd.shape());
    int64_t c = o[1] * b * b + (o[2] % b) * b + (o[3] % b);
    ASSERT_EQ(crd.data<float>()[i], d.data<float>()[ravel({o[0], c, o[2] / b, o[3] / b}, d.shape())]);
  }
  Tensor dcr = OpGraph("DepthToSpace").input(d).attr("blocksize", b).run1();
  Tensor back = OpGraph("SpaceToDepth").input(dcr).attr("blocksize", b).run1();
  ASSERT_EQ(back.shape(), d.shape());
  EXPECT_EQ(std::memcmp(back.raw(), d.raw(), d.nbytes()), 0);
}

// ---- gather / scatter --------------------------------------------------------------------------

TEST(IndexOps, GatherAlongEveryAxisWithNegativeIndices) {
  std::mt19937 rng(61);
  for (int trial = 0; trial < 40; ++trial) {
    const int r = 1 + trial % 4;
    Shape s = random_shape(r, rng, 3000);
    Tensor x = random_f32(s, rng);
    const int axis = static_cast<int>(rng() % static_cast<unsigned>(r));
    const int64_t dim = s[static_cast<size_t>(axis)];
    Shape is = random_shape(static_cast<int>(rng() % 3), rng, 20);
    Tensor ind(trial % 2 ? DType::kI32 : DType::kI64, is);
    std::vector<int64_t> iv(static_cast<size_t>(ind.numel()));
    for (auto& v : iv) v = static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * dim)) - dim;  // [-dim, dim)
    for (int64_t i = 0; i < ind.numel(); ++i) {
      if (ind.dtype() == DType::kI32) ind.data<int32_t>()[i] = static_cast<int32_t>(iv[static_cast<size_t>(i)]);
      else ind.data<int64_t>()[i] = iv[static_cast<size_t>(i)];
    }
    Tensor y = OpGraph("Gather").input(x).input(ind).attr("axis", int64_t{trial % 3 ? axis : axis - r}).run1();
    Shape want(s.begin(), s.begin() + axis);
    want.insert(want.end(), is.begin(), is.end());
    want.insert(want.end(), s.begin() + axis + 1, s.end());
    ASSERT_EQ(y.shape(), want);
    for (int64_t i = 0; i < y.numel(); ++i) {
      auto o = unravel(i, want);
      std::vector<int64_t> ii(o.begin(), o.begin() + axis);
      std::vector<int64_t> io(o.begin() + axis, o.begin() + axis + static_cast<std::ptrdiff_t>(is.size()));
      int64_t v = iv[static_cast<size_t>(ravel(io, is))];
      ii.push_back(v < 0 ? v + dim : v);
      ii.insert(ii.end(), o.begin() + axis + static_cast<std::ptrdiff_t>(is.size()), o.end());
      ASSERT_EQ(y.data<float>()[i], x.data<float>()[ravel(ii, s)]) << "trial " << trial;
    }
  }
}

TEST(IndexOps, GatherElementsAndScatterElementsAdd) {
  std::mt19937 rng(71);
  for (int axis = 0; axis < 3; ++axis) {
    Shape s = {3, 17, 5};
    Tensor x = random_f32(s, rng);
    Shape is = {3, 4, 5};
    is[static_cast<size_t>(axis)] = 7;
    Tensor ind(DType::kI64, is);
    for (int64_t i = 0; i < ind.numel(); ++i)
      ind.data<int64_t>()[i] = static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * s[static_cast<size_t>(axis)])) - s[static_cast<size_t>(axis)];
    Tensor g = OpGraph("GatherElements").input(x).input(ind).attr("axis", int64_t{axis}).run1();
    Tensor upd = random_f32(is, rng);
    Tensor sc = OpGraph("ScatterElements", 18).input(x).input(ind).input(upd).attr("axis", int64_t{axis}).attr("reduction", std::string("add")).run1();
    std::vector<double> want(x.data<float>(), x.data<float>() + x.numel());
    for (int64_t i = 0; i < ind.numel(); ++i) {
      auto idx = unravel(i, is);
      int64_t v = ind.data<int64_t>()[i];
      idx[static_cast<size_t>(axis)] = v < 0 ? v + s[static_cast<size_t>(axis)] : v;
      ASSERT_EQ(g.data<float>()[i], x.data<float>()[ravel(idx, s)]);
      want[static_cast<size_t>(ravel(idx, s))] += upd.data<float>()[i];
    }
    for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(sc.data<float>()[i], want[static_cast<size_t>(i)], 1e-3);
  }
}

TEST(IndexOps, GatherNDBatchDimsAndScatterNDMax) {
  std::mt19937 rng(81);
  Tensor x = random_f32({3, 17, 5}, rng);
  Tensor ind(DType::kI64, {3, 4, 1});  // batch_dims=1: per batch, pick 4 rows of 17
  for (int64_t i = 0; i < ind.numel(); ++i) ind.data<int64_t>()[i] = static_cast<int64_t>(rng() % 34) - 17;
  Tensor y = OpGraph("GatherND").input(x).input(ind).attr("batch_dims", int64_t{1}).run1();
  ASSERT_EQ(y.shape(), (Shape{3, 4, 5}));
  for (int64_t i = 0; i < y.numel(); ++i) {
    auto o = unravel(i, y.shape());
    int64_t v = ind.data<int64_t>()[o[0] * 4 + o[1]];
    ASSERT_EQ(y.data<float>()[i], x.data<float>()[ravel({o[0], v < 0 ? v + 17 : v, o[2]}, x.shape())]);
  }
  Tensor ind2 = Tensor::from_vector<int64_t>({3, 2}, {2, 16, 0, -1, 2, 16});  // duplicate target (2, 16)
  Tensor upd = random_f32({3, 5}, rng);
  Tensor sc = OpGraph("ScatterND", 18).input(x).input(ind2).input(upd).attr("reduction", std::string("max")).run1();
  std::vector<float> want(x.data<float>(), x.data<float>() + x.numel());
  const int64_t rows[3] = {2 * 17 + 16, 0 * 17 + 16, 2 * 17 + 16};
  for (int t = 0; t < 3; ++t)
    for (int j = 0; j < 5; ++j) want[static_cast<size_t>(rows[t] * 5 + j)] = std::max(want[static_cast<size_t>(rows[t] * 5 + j)], upd.data<float>()[t * 5 + j]);
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(sc.data<float>()[i], want[static_cast<size_t>(i)]);
}

// ---- creators and selections --------------------------------------------------------------------

TEST(IndexOps, RangeNonZeroOneHotTriluCompress) {
  Tensor r = OpGraph("Range").input(Tensor::scalar<int32_t>(10)).input(Tensor::scalar<int32_t>(-7)).input(Tensor::scalar<int32_t>(-3)).run1();
  ASSERT_EQ(r.shape(), (Shape{6}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(r.data<int32_t>()[i], 10 - 3 * i);
  Tensor rf = OpGraph("Range").constant(Tensor::scalar<float>(0.5f)).constant(Tensor::scalar<float>(3.0f)).constant(Tensor::scalar<float>(0.75f)).run1();
  ASSERT_EQ(rf.shape(), (Shape{4}));
  EXPECT_FLOAT_EQ(rf.data<float>()[3], 2.75f);

  std::mt19937 rng(91);
  Tensor b(DType::kBool, {3, 17});
  std::vector<std::vector<int64_t>> nz;
  for (int64_t i = 0; i < b.numel(); ++i) {
    b.data<bool>()[i] = rng() % 3 == 0;
    if (b.data<bool>()[i]) nz.push_back(unravel(i, b.shape()));
  }
  Tensor n = OpGraph("NonZero").input(b).run1();
  ASSERT_EQ(n.shape(), (Shape{2, static_cast<int64_t>(nz.size())}));
  for (size_t j = 0; j < nz.size(); ++j)
    for (size_t d = 0; d < 2; ++d) EXPECT_EQ(n.data<int64_t>()[d * nz.size() + j], nz[j][d]);

  Tensor idx = Tensor::from_vector<int64_t>({3}, {0, -1, 7});
  Tensor oh = OpGraph("OneHot").input(idx).constant(Tensor::scalar<int64_t>(5)).input(Tensor::from_vector<float>({2}, {-1, 2})).attr("axis", int64_t{0}).run1();
  ASSERT_EQ(oh.shape(), (Shape{5, 3}));
  for (int64_t d = 0; d < 5; ++d) {
    EXPECT_EQ(oh.data<float>()[d * 3 + 0], d == 0 ? 2 : -1);
    EXPECT_EQ(oh.data<float>()[d * 3 + 1], d == 4 ? 2 : -1);
    EXPECT_EQ(oh.data<float>()[d * 3 + 2], -1);  // out of range: all off
  }

  Tensor m = random_f32({2, 3, 17}, rng);
  for (int64_t k : {-2, 0, 5}) {
    for (int64_t upper : {0, 1}) {
      Tensor t = OpGraph("Trilu").input(m).input(Tensor::scalar<int64_t>(k)).attr("upper", upper).run1();
      for (int64_t i = 0; i < t.numel(); ++i) {
        auto o = unravel(i, t.shape());
        bool keep = upper ? o[2] - o[1] >= k : o[2] - o[1] <= k;
        ASSERT_EQ(t.data<float>()[i], keep ? m.data<float>()[i] : 0.0f);
      }
    }
  }

  Tensor cond = Tensor::from_vector<bool>({2}, {false, true});  // shorter than the dim: rest dropped
  Tensor c = OpGraph("Compress").input(m).input(cond).attr("axis", int64_t{2}).run1();
  ASSERT_EQ(c.shape(), (Shape{2, 3, 1}));
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(c.data<float>()[i], m.data<float>()[i * 17 + 1]);
}

// ---- clean errors --------------------------------------------------------------------------------

TEST(ShapeIndexErrors, BadShapesAndIndicesGiveCleanErrors) {
  std::mt19937 rng(101);
  Tensor x = random_f32({3, 17}, rng);
  std::vector<Tensor> out;
  // Reshape size mismatch: at load time with a constant shape, at run time with an input.
  Status st = OpGraph("Reshape").input(x).constant(i64({4, 13})).run(out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  EXPECT_NE(st.message().find("cannot reshape 3x17"), std::string::npos) << st.message();
  st = OpGraph("Reshape").input(x).input(i64({-1, 5})).run(out);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("-1 cannot be inferred"), std::string::npos) << st.message();
  // Gather with an out-of-range index.
  st = OpGraph("Gather").input(x).input(i64({0, 17})).attr("axis", int64_t{1}).run(out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
  EXPECT_NE(st.message().find("index 17 is out of range"), std::string::npos) << st.message();
  st = OpGraph("GatherND").input(x).input(Tensor::from_vector<int64_t>({1, 2}, {-4, 0})).run(out);
  EXPECT_NE(st.message().find("index -4 is out of range"), std::string::npos) << st.message();
  st = OpGraph("ScatterElements").input(x).input(Tensor::from_vector<int64_t>({1, 1}, {3})).input(random_f32({1, 1}, rng)).run(out);
  EXPECT_NE(st.message().find("index 3 is out of range"), std::string::npos) << st.message();
  // Squeeze of a dim that is not 1.
  st = OpGraph("Squeeze").input(x).constant(i64({1})).run(out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  EXPECT_NE(st.message().find("cannot squeeze axis 1 of size 17"), std::string::npos) << st.message();
  // Absurd sizes: resource limits, not allocation attempts.
  st = OpGraph("Expand").input(x).constant(i64({1 << 20, 1 << 20, 1, 1})).run(out);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  st = OpGraph("Expand").input(x).input(i64({1 << 20, 1 << 20, 1, 1})).run(out);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  st = OpGraph("Tile").input(x).constant(i64({int64_t{1} << 40, int64_t{1} << 40})).run(out);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  st = OpGraph("Range").constant(Tensor::scalar<int64_t>(std::numeric_limits<int64_t>::min()))
           .constant(Tensor::scalar<int64_t>(std::numeric_limits<int64_t>::max())).constant(Tensor::scalar<int64_t>(1)).run(out);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  st = OpGraph("Range").input(Tensor::scalar<float>(0)).input(Tensor::scalar<float>(1e30f)).input(Tensor::scalar<float>(1e-30f)).run(out);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  st = OpGraph("ConstantOfShape").input(i64({int64_t{1} << 62, 4})).run(out);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  // Slice with a zero step, Transpose with a bad perm, Concat with mismatched dims.
  st = OpGraph("Slice").input(x).input(i64({0})).input(i64({2})).input(i64({0})).input(i64({0})).run(out);
  EXPECT_NE(st.message().find("step for axis 0 is 0"), std::string::npos) << st.message();
  st = OpGraph("Transpose").input(x).attr("perm", std::vector<int64_t>{0, 0}).run(out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  st = OpGraph("Concat").input(x).input(random_f32({3, 5}, rng)).attr("axis", int64_t{0}).run(out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  st = OpGraph("ReverseSequence").input(x).input(i64({4, 18, 1})).attr("batch_axis", int64_t{0}).attr("time_axis", int64_t{1}).run(out);
  EXPECT_NE(st.message().find("sequence_lens[1] = 18 is outside [0, 17]"), std::string::npos) << st.message();
}

TEST(ShapeOps, ConstantShapeSizeEyeLikeUniqueAndEmptyConcat) {
  Tensor v = Tensor::from_vector<int32_t>({2, 2}, {7, -3, 5, 1});
  Tensor c = OpGraph("Constant").attr("value", v).run1();
  ASSERT_EQ(c.shape(), (Shape{2, 2}));
  EXPECT_EQ(c.data<int32_t>()[1], -3);
  Tensor cs = OpGraph("ConstantOfShape").input(i64({3, 1, 17})).attr("value", Tensor::from_vector<int64_t>({1}, {-9})).run1();
  ASSERT_EQ(cs.shape(), (Shape{3, 1, 17}));
  for (int64_t i = 0; i < cs.numel(); ++i) ASSERT_EQ(cs.data<int64_t>()[i], -9);
  Tensor scalar = OpGraph("ConstantOfShape").input(Tensor(DType::kI64, {0})).run1();
  EXPECT_EQ(scalar.shape(), Shape{});
  EXPECT_EQ(scalar.dtype(), DType::kF32);

  std::mt19937 rng(111);
  Tensor x = random_f32({3, 1, 17, 5}, rng);
  Tensor sh = OpGraph("Shape").input(x).attr("start", int64_t{1}).attr("end", int64_t{-1}).run1();
  ASSERT_EQ(sh.shape(), (Shape{2}));
  EXPECT_EQ(sh.data<int64_t>()[0], 1);
  EXPECT_EQ(sh.data<int64_t>()[1], 17);
  EXPECT_EQ(OpGraph("Size").input(x).run1().data<int64_t>()[0], 255);

  Tensor eye = OpGraph("EyeLike").input(Tensor(DType::kI32, {3, 5})).attr("k", int64_t{2}).attr("dtype", int64_t{11}).run1();
  ASSERT_EQ(eye.dtype(), DType::kF64);
  for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(eye.data<double>()[i], (i % 5) - (i / 5) == 2 ? 1.0 : 0.0);

  // Unique along axis 1 of a [2, 5] tensor with repeated columns, unsorted (first-occurrence order).
  Tensor u = Tensor::from_vector<float>({2, 5}, {1, 3, 1, 2, 3, 4, 0, 4, 4, 0});
  std::vector<Tensor> outs;
  ASSERT_TRUE(OpGraph("Unique").input(u).attr("axis", int64_t{1}).attr("sorted", int64_t{0}).run(outs, 4).is_ok());
  ASSERT_EQ(outs[0].shape(), (Shape{2, 3}));  // columns (1,4), (3,0), (2,4)
  EXPECT_EQ(std::vector<float>(outs[0].data<float>(), outs[0].data<float>() + 6), (std::vector<float>{1, 3, 2, 4, 0, 4}));
  EXPECT_EQ(std::vector<int64_t>(outs[1].data<int64_t>(), outs[1].data<int64_t>() + 3), (std::vector<int64_t>{0, 1, 3}));
  EXPECT_EQ(std::vector<int64_t>(outs[2].data<int64_t>(), outs[2].data<int64_t>() + 5), (std::vector<int64_t>{0, 1, 0, 2, 1}));
  EXPECT_EQ(std::vector<int64_t>(outs[3].data<int64_t>(), outs[3].data<int64_t>() + 3), (std::vector<int64_t>{2, 2, 1}));

  // An empty 1-D placeholder next to 2-D inputs is ignored.
  Tensor a = random_f32({3, 2}, rng);
  Tensor cc = OpGraph("Concat").input(Tensor(DType::kF32, {0})).input(a).input(a).attr("axis", int64_t{1}).run1();
  ASSERT_EQ(cc.shape(), (Shape{3, 4}));
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(cc.data<float>()[i], a.data<float>()[(i / 4) * 2 + i % 2]);
}
