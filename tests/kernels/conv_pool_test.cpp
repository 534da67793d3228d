// Conv / pooling / normalization / softmax reference kernels against naive double-precision
// math written here, on seeded random data with odd shapes; plus clean errors for bad models.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <random>

#include "joule/session.h"
#include "runtime/ir/graph.h"

using namespace joule;

namespace {

using Attrs = std::map<std::string, ir::Attribute>;

ir::Attribute ints(std::vector<int64_t> v) { return ir::Attribute::of_ints(std::move(v)); }
ir::Attribute int_attr(int64_t v) { return ir::Attribute::of_int(v); }
ir::Attribute float_attr(float v) { return ir::Attribute::of_float(v); }
ir::Attribute str_attr(std::string v) { return ir::Attribute::of_string(std::move(v)); }

// Builds a one-node model whose inputs are all runtime inputs (nullopt = omitted optional input),
// runs it and returns the first error of load or run.
Status run_op(const std::string& op, const std::vector<std::optional<Tensor>>& inputs, const Attrs& attrs, size_t num_outputs,
              std::vector<Tensor>& outputs, int opset = 17, int threads = 1) {
  ir::Graph g;
  g.opset_imports[""] = opset;
  std::vector<ir::Value*> ins;
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      ins.push_back(nullptr);
      continue;
    }
    ir::Value* v = g.add_value("in" + std::to_string(i));
    v->desc = ir::TensorDesc::known(inputs[i]->dtype(), inputs[i]->shape());
    g.inputs.push_back(v);
    ins.push_back(v);
    feeds.emplace_back(v->name, *inputs[i]);
  }
  std::vector<ir::Value*> outs;
  for (size_t i = 0; i < num_outputs; ++i) {
    outs.push_back(g.add_value("out" + std::to_string(i)));
    g.outputs.push_back(outs.back());
  }
  ir::Node* n = g.add_node(op, ins, outs, "node");
  n->attrs = attrs;
  SessionOptions opts;
  opts.threads = threads;
  std::unique_ptr<Session> sess;
  JOULE_RETURN_IF_ERROR(Session::create(std::move(g), opts, sess));
  return sess->run(feeds, outputs);
}

Tensor random_f32(Shape s, std::mt19937& rng) {
  Tensor t(DType::kF32, std::move(s));
  std::uniform_real_distribution<float> d(-1.5f, 1.5f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

void expect_close(const Tensor& got, const std::vector<double>& want, const Shape& shape, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), shape) << what;
  ASSERT_EQ(static_cast<size_t>(got.numel()), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    double g = got.value_as_double(static_cast<int64_t>(i));
    ASSERT_NEAR(g, want[i], tol * (1 + std::fabs(want[i]))) << what << " at flat index " << i;
  }
}

// Window geometry of one case in the test's own terms (explicit pads, no auto_pad).
struct Win {
  std::vector<int64_t> in, k, s, d, pb, pe, out;
};

int64_t out_dim(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, bool ceil_mode) {
  int64_t span = in + pb + pe - ((k - 1) * d + 1);
  if (span < 0) return 0;
  int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (o - 1) * s >= in + pb) --o;
  return o;
}

// Calls f(flat_out_spatial, flat_in_spatial or -1 when in padding, in_padded_range) over every
// (output, tap) pair of an N-D window, in row-major order.
template <class F>
void each_tap(const Win& w, F f) {
  size_t r = w.in.size();
  int64_t nout = 1, nk = 1;
  for (size_t i = 0; i < r; ++i) nout *= w.out[i], nk *= w.k[i];
  for (int64_t o = 0; o < nout; ++o) {
    for (int64_t t = 0; t < nk; ++t) {
      int64_t orem = o, trem = t, flat = 0, stride = 1;
      bool inside = true, in_padded = true;
      for (size_t i = r; i-- > 0;) {
        int64_t oi = orem % w.out[i], ki = trem % w.k[i];
        orem /= w.out[i];
        trem /= w.k[i];
        int64_t pos = oi * w.s[i] - w.pb[i] + ki * w.d[i];
        if (pos < 0 || pos >= w.in[i]) inside = false;
        if (pos < -w.pb[i] || pos >= w.in[i] + w.pe[i]) in_padded = false;
        flat += pos * stride;
        stride *= w.in[i];
      }
      f(o, inside ? flat : -1, in_padded);
    }
  }
}

Attrs window_attrs(const Win& w) {
  std::vector<int64_t> pads = w.pb;
  pads.insert(pads.end(), w.pe.begin(), w.pe.end());
  return {{"strides", ints(w.s)}, {"dilations", ints(w.d)}, {"pads", ints(pads)}};
}

// Draws a random window geometry of rank r (output computed with `ceil_mode`) whose every
// window touches at least one input position.
Win random_window(std::mt19937& rng, size_t r, bool pool, bool ceil_mode = false) {
  auto pick = [&](std::vector<int64_t> v) { return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)]; };
  for (;;) {
    Win w;
    bool ok = true;
    for (size_t i = 0; i < r; ++i) {
      w.in.push_back(r == 3 ? pick({1, 2, 4, 5}) : pick({1, 2, 3, 5, 7, 8, 13, 17}));
      w.k.push_back(pick({1, 3, 5}));
      w.s.push_back(pick({1, 1, 2, 3}));
      w.d.push_back(pick({1, 1, 2}));
      int64_t maxpad = pool ? w.k.back() - 1 : 2;  // pools: pads smaller than the kernel
      w.pb.push_back(std::min<int64_t>(pick({0, 1, 2}), maxpad));
      w.pe.push_back(std::min<int64_t>(pick({0, 1, 2}), maxpad));
      w.out.push_back(out_dim(w.in[i], w.k[i], w.s[i], w.d[i], w.pb[i], w.pe[i], ceil_mode));
      ok = ok && w.out[i] >= 1;
    }
    if (!ok) continue;
    int64_t nout = 1;
    for (int64_t o : w.out) nout *= o;
    std::vector<int> touched(static_cast<size_t>(nout), 0);
    each_tap(w, [&](int64_t o, int64_t flat, bool) { touched[size_t(o)] += flat >= 0; });
    for (int t : touched) ok = ok && t > 0;
    if (ok) return w;
  }
}

Shape nc_shape(int64_t n, int64_t c, const std::vector<int64_t>& sp) {
  Shape s = {n, c};
  s.insert(s.end(), sp.begin(), sp.end());
  return s;
}

// Naive grouped convolution in double: X (N, C, in...), W (M, C/group, k...), B (M) or empty.
std::vector<double> naive_conv(const Tensor& x, const Tensor& wt, const std::vector<double>& bias, const Win& w, int64_t group) {
  int64_t n = x.dim(0), c = x.dim(1), m = wt.dim(0), cg = c / group, mg = m / group;
  int64_t in_sp = x.numel() / (n * c), nk = wt.numel() / (m * cg), nout = 1;
  for (int64_t o : w.out) nout *= o;
  std::vector<double> y(static_cast<size_t>(n * m * nout), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < m; ++oc) {
      int64_t g = oc / mg;
      double* yp = &y[static_cast<size_t>((b * m + oc) * nout)];
      for (int64_t o = 0; o < nout; ++o) yp[o] = bias.empty() ? 0.0 : bias[size_t(oc)];
      for (int64_t ic = 0; ic < cg; ++ic) {
        int64_t tap = 0;
        int64_t last_o = -1;
        each_tap(w, [&](int64_t o, int64_t flat, bool) {
          if (o != last_o) tap = 0, last_o = o;
          if (flat >= 0)
            yp[o] += x.value_as_double((b * c + g * cg + ic) * in_sp + flat) * wt.value_as_double((oc * cg + ic) * nk + tap);
          ++tap;
        });
      }
    }
  return y;
}

}  // namespace

TEST(ConvRef, MatchesNaiveConvolutionOnRandomGeometries) {
  std::mt19937 rng(2024);
  int cases = 0;
  for (int iter = 0; iter < 120; ++iter) {
    size_t r = 1 + static_cast<size_t>(iter % 3);
    Win w = random_window(rng, r, false);
    // Channel / group layouts: plain, grouped, depthwise (with multiplier).
    int64_t c = std::vector<int64_t>{1, 3, 17}[size_t(iter / 3) % 3];
    int64_t group = 1, m = std::vector<int64_t>{1, 4, 17}[size_t(iter / 9) % 3];
    int kind = (iter / 27) % 3;
    if (kind == 1 && c == 3) group = 3, m = 6;
    if (kind == 2) group = c, m = c * (iter % 2 ? 2 : 1);  // depthwise
    int64_t batch = iter % 4 == 0 ? 2 : 1;
    Tensor x = random_f32(nc_shape(batch, c, w.in), rng);
    Tensor wt = random_f32(nc_shape(m, c / group, w.k), rng);
    bool with_bias = iter % 2 == 0;
    Tensor b = random_f32({m}, rng);
    std::vector<double> bias;
    if (with_bias)
      for (int64_t i = 0; i < m; ++i) bias.push_back(b.data<float>()[i]);
    Attrs attrs = window_attrs(w);
    attrs["group"] = int_attr(group);
    if (iter % 5 == 0) attrs["kernel_shape"] = ints(w.k);
    std::vector<Tensor> out;
    std::vector<std::optional<Tensor>> ins = {x, wt};
    if (with_bias) ins.push_back(b);
    Status st = run_op("Conv", ins, attrs, 1, out, 17, iter % 2 ? 3 : 1);
    ASSERT_TRUE(st.is_ok()) << st.message();
    expect_close(out[0], naive_conv(x, wt, bias, w, group), nc_shape(batch, m, w.out), 1e-5,
                 "conv case " + std::to_string(iter));
    ++cases;
  }
  EXPECT_EQ(cases, 120);
}

TEST(ConvRef, Float64AndFloat16) {
  std::mt19937 rng(5);
  Win w{{7, 5}, {3, 3}, {2, 1}, {1, 2}, {1, 0}, {2, 1}, {}};
  for (size_t i = 0; i < 2; ++i) w.out.push_back(out_dim(w.in[i], w.k[i], w.s[i], w.d[i], w.pb[i], w.pe[i], false));
  Tensor x = random_f32({1, 3, 7, 5}, rng), wt = random_f32({4, 3, 3, 3}, rng);
  std::vector<double> want = naive_conv(x, wt, {}, w, 1);
  for (DType t : {DType::kF64, DType::kF16}) {
    Tensor xt(t, x.shape()), wtt(t, wt.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (t == DType::kF64) xt.data<double>()[i] = x.data<float>()[i];
      else xt.data<Half>()[i] = Half(x.data<float>()[i]);
    }
    for (int64_t i = 0; i < wt.numel(); ++i) {
      if (t == DType::kF64) wtt.data<double>()[i] = wt.data<float>()[i];
      else wtt.data<Half>()[i] = Half(wt.data<float>()[i]);
    }
    std::vector<double> ref = naive_conv(xt, wtt, {}, w, 1);  // exact inputs of this dtype
    std::vector<Tensor> out;
    Status st = run_op("Conv", {xt, wtt}, window_attrs(w), 1, out);
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_EQ(out[0].dtype(), t);
    expect_close(out[0], ref, nc_shape(1, 4, w.out), t == DType::kF64 ? 1e-12 : 2e-3, "conv dtype");
  }
}

TEST(ConvRef, AutoPadSameAndValid) {
  std::mt19937 rng(9);
  Tensor x = random_f32({1, 2, 8, 7}, rng), wt = random_f32({3, 2, 3, 2}, rng);
  struct Case { const char* pad; std::vector<int64_t> pb, pe, out; };
  // SAME: out = ceil(in / s) with s = 2; total pad = (out-1)*s + k - in; SAME_UPPER pads more at the end.
  for (const Case& c : {Case{"SAME_UPPER", {0, 0}, {1, 1}, {4, 4}}, Case{"SAME_LOWER", {1, 1}, {0, 0}, {4, 4}},
                        Case{"VALID", {0, 0}, {0, 0}, {3, 3}}}) {
    Win w{{8, 7}, {3, 2}, {2, 2}, {1, 1}, c.pb, c.pe, c.out};
    std::vector<Tensor> out;
    Status st = run_op("Conv", {x, wt}, {{"auto_pad", str_attr(c.pad)}, {"strides", ints({2, 2})}}, 1, out);
    ASSERT_TRUE(st.is_ok()) << st.message();
    expect_close(out[0], naive_conv(x, wt, {}, w, 1), nc_shape(1, 3, c.out), 1e-5, c.pad);
  }
}

TEST(PoolRef, MaxAndAverageMatchNaiveOnRandomGeometries) {
  std::mt19937 rng(77);
  for (int iter = 0; iter < 90; ++iter) {
    size_t r = 1 + static_cast<size_t>(iter % 3);
    bool ceil_mode = iter % 4 == 1;
    Win w = random_window(rng, r, true, ceil_mode);
    int64_t c = std::vector<int64_t>{1, 3, 17}[size_t(iter / 3) % 3];
    Tensor x = random_f32(nc_shape(2, c, w.in), rng);
    int64_t in_sp = x.numel() / (2 * c), nout = 1;
    for (int64_t o : w.out) nout *= o;
    Attrs attrs = window_attrs(w);
    attrs["kernel_shape"] = ints(w.k);
    attrs["ceil_mode"] = int_attr(ceil_mode);
    std::string what = "pool case " + std::to_string(iter);

    // MaxPool with Indices (row-major flat index into X).
    std::vector<double> want_max(static_cast<size_t>(2 * c * nout)), want_idx(want_max.size());
    for (int64_t pl = 0; pl < 2 * c; ++pl) {
      std::vector<double> best(size_t(nout), -INFINITY);
      std::vector<int64_t> arg(size_t(nout), -1);
      each_tap(w, [&](int64_t o, int64_t flat, bool) {
        if (flat < 0) return;
        double v = x.value_as_double(pl * in_sp + flat);
        if (v > best[size_t(o)]) best[size_t(o)] = v, arg[size_t(o)] = pl * in_sp + flat;
      });
      for (int64_t o = 0; o < nout; ++o) {
        want_max[size_t(pl * nout + o)] = best[size_t(o)];
        want_idx[size_t(pl * nout + o)] = static_cast<double>(arg[size_t(o)]);
      }
    }
    std::vector<Tensor> out;
    Status st = run_op("MaxPool", {x}, attrs, 2, out, 12);
    ASSERT_TRUE(st.is_ok()) << what << ": " << st.message();
    expect_close(out[0], want_max, nc_shape(2, c, w.out), 0, what + " max");
    expect_close(out[1], want_idx, nc_shape(2, c, w.out), 0, what + " indices");

    // AveragePool (opset 19 for dilations), both count_include_pad settings.
    for (int64_t include_pad : {0, 1}) {
      std::vector<double> want(static_cast<size_t>(2 * c * nout));
      for (int64_t pl = 0; pl < 2 * c; ++pl) {
        std::vector<double> sum(size_t(nout), 0.0), cnt(size_t(nout), 0.0);
        each_tap(w, [&](int64_t o, int64_t flat, bool in_padded) {
          if (flat >= 0) sum[size_t(o)] += x.value_as_double(pl * in_sp + flat);
          if (include_pad ? in_padded : flat >= 0) cnt[size_t(o)] += 1;
        });
        for (int64_t o = 0; o < nout; ++o) want[size_t(pl * nout + o)] = sum[size_t(o)] / cnt[size_t(o)];
      }
      Attrs a = attrs;
      a["count_include_pad"] = int_attr(include_pad);
      st = run_op("AveragePool", {x}, a, 1, out, 19);
      ASSERT_TRUE(st.is_ok()) << what << ": " << st.message();
      expect_close(out[0], want, nc_shape(2, c, w.out), 1e-6, what + " avg include_pad=" + std::to_string(include_pad));
    }
  }
}

TEST(PoolRef, MaxPoolInt8AndColumnMajorIndices) {
  Tensor x(DType::kI8, {1, 1, 3, 4});
  std::mt19937 rng(3);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<int8_t>()[i] = static_cast<int8_t>(int(rng() % 255) - 127);
  std::vector<Tensor> out;
  Status st = run_op("MaxPool", {x}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({1, 2})}, {"storage_order", int_attr(1)}}, 2,
                     out, 12);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(out[0].shape(), (Shape{1, 1, 2, 2}));
  for (int64_t oh = 0; oh < 2; ++oh)
    for (int64_t ow = 0; ow < 2; ++ow) {
      int best = -1000, bh = 0, bw = 0;
      for (int64_t kh = 0; kh < 2; ++kh)
        for (int64_t kw = 0; kw < 2; ++kw) {
          int v = x.data<int8_t>()[(oh + kh) * 4 + ow * 2 + kw];
          if (v > best) best = v, bh = int(oh + kh), bw = int(ow * 2 + kw);
        }
      EXPECT_EQ(out[0].data<int8_t>()[oh * 2 + ow], best);
      EXPECT_EQ(out[1].data<int64_t>()[oh * 2 + ow], bh + bw * 3);  // column-major: h + w * H
    }
}

TEST(NormRef, LayerNormMatchesDoubleMath) {
  std::mt19937 rng(11);
  Tensor x = random_f32({3, 17, 5}, rng);
  for (int64_t axis : {0, 1, -1}) {
    int64_t a = axis < 0 ? axis + 3 : axis;
    Shape norm(x.shape().begin() + a, x.shape().end());
    int64_t inner = shape_numel(norm), outer = x.numel() / inner;
    // Scale covers the normalized dims; B broadcasts along the last dim only.
    Tensor scale = random_f32(norm, rng), bias = random_f32({norm.back()}, rng);
    std::vector<double> want(size_t(x.numel())), means, invs;
    for (int64_t r = 0; r < outer; ++r) {
      double mean = 0, var = 0;
      for (int64_t j = 0; j < inner; ++j) mean += x.data<float>()[r * inner + j];
      mean /= double(inner);
      for (int64_t j = 0; j < inner; ++j) var += std::pow(x.data<float>()[r * inner + j] - mean, 2);
      double inv = 1 / std::sqrt(var / double(inner) + 1e-3);
      for (int64_t j = 0; j < inner; ++j)
        want[size_t(r * inner + j)] =
            (x.data<float>()[r * inner + j] - mean) * inv * scale.data<float>()[j] + bias.data<float>()[j % norm.back()];
      means.push_back(mean);
      invs.push_back(inv);
    }
    std::vector<Tensor> out;
    Status st = run_op("LayerNormalization", {x, scale, bias}, {{"axis", int_attr(axis)}, {"epsilon", float_attr(1e-3f)}}, 3, out,
                       18);
    ASSERT_TRUE(st.is_ok()) << st.message();
    expect_close(out[0], want, x.shape(), 1e-5, "layernorm y");
    Shape stat = x.shape();
    for (int64_t i = a; i < 3; ++i) stat[size_t(i)] = 1;
    expect_close(out[1], means, stat, 1e-6, "layernorm mean");
    expect_close(out[2], invs, stat, 1e-5, "layernorm inv std");
  }
}

TEST(SoftmaxRef, AxisAndLegacyCoercion) {
  std::mt19937 rng(13);
  Tensor x = random_f32({3, 4, 5}, rng);
  for (int i = 0; i < x.numel(); ++i) x.data<float>()[i] *= 10;
  // opset 13, axis 1: along dim 1 only. opset 11, axis 1: over the flattened 4x5 block.
  for (int opset : {13, 11}) {
    int64_t len = opset >= 13 ? 4 : 20, inner = opset >= 13 ? 5 : 1;
    for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
      std::vector<double> want(size_t(x.numel()));
      for (int64_t o = 0; o < 3; ++o)
        for (int64_t in = 0; in < inner; ++in) {
          auto at = [&](int64_t j) { return (o * len + j) * inner + in; };
          double mx = -INFINITY, sum = 0;
          int64_t arg = 0;
          for (int64_t j = 0; j < len; ++j)
            if (x.data<float>()[at(j)] > mx) mx = x.data<float>()[at(j)], arg = j;
          for (int64_t j = 0; j < len; ++j) sum += std::exp(x.data<float>()[at(j)] - mx);
          for (int64_t j = 0; j < len; ++j) {
            double v = x.data<float>()[at(j)];
            want[size_t(at(j))] = std::string(op) == "Softmax"  ? std::exp(v - mx) / sum
                                  : std::string(op) == "Hardmax" ? double(j == arg)
                                                                 : v - mx - std::log(sum);
          }
        }
      std::vector<Tensor> out;
      Status st = run_op(op, {x}, {{"axis", int_attr(1)}}, 1, out, opset);
      ASSERT_TRUE(st.is_ok()) << st.message();
      expect_close(out[0], want, x.shape(), 1e-5, std::string(op) + " opset " + std::to_string(opset));
    }
  }
}

// Each bad model must give a clean error whose message names the problem.
TEST(NnErrors, BadShapesAndAttributesAreCleanErrors) {
  std::mt19937 rng(1);
  Tensor x = random_f32({1, 6, 5, 5}, rng);
  struct Case {
    std::string op;
    std::vector<std::optional<Tensor>> ins;
    Attrs attrs;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"Conv", {x, random_f32({4, 5, 3, 3}, rng)}, {}, "input channels"},
      {"Conv", {x, random_f32({4, 3, 3, 3}, rng)}, {{"group", int_attr(4)}}, "does not divide"},
      {"Conv", {x, random_f32({4, 6, 3, 3}, rng)}, {{"group", int_attr(0)}}, "group 0"},
      {"Conv", {x, random_f32({4, 6, 7, 3}, rng)}, {}, "larger than the padded input"},
      {"Conv", {x, random_f32({4, 6, 3, 3}, rng)}, {{"strides", ints({0, 1})}}, "strides"},
      {"Conv", {x, random_f32({4, 6, 3, 3}, rng)}, {{"pads", ints({-1, 0, 0, 0})}}, "pads"},
      {"Conv", {x, random_f32({4, 6, 3, 3}, rng), random_f32({5}, rng)}, {}, "bias shape"},
      {"Conv", {x, random_f32({4, 6, 3}, rng)}, {}, "same rank"},
      {"Conv", {x, random_f32({4, 6, 3, 3}, rng)}, {{"auto_pad", str_attr("SAME")}}, "auto_pad"},
      {"ConvTranspose", {x, random_f32({5, 2, 3, 3}, rng)}, {}, "input channels"},
      {"MaxPool", {x}, {}, "kernel_shape"},
      {"MaxPool", {x}, {{"kernel_shape", ints({9, 1})}}, "larger than the padded input"},
      {"AveragePool", {x}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({1})}}, "strides"},
      {"BatchNormalization",
       {x, random_f32({6}, rng), random_f32({6}, rng), random_f32({6}, rng), random_f32({5}, rng)},
       {},
       "var shape"},
      {"BatchNormalization",
       {x, random_f32({6}, rng), random_f32({6}, rng), random_f32({6}, rng), random_f32({6}, rng)},
       {{"training_mode", int_attr(1)}},
       "training_mode"},
      {"LayerNormalization", {x, random_f32({4}, rng)}, {}, "does not broadcast"},
      {"Softmax", {x}, {{"axis", int_attr(4)}}, "axis 4"},
  };
  for (const Case& c : cases) {
    std::vector<Tensor> out;
    Status st = run_op(c.op, c.ins, c.attrs, 1, out, 17);
    EXPECT_FALSE(st.is_ok()) << c.op << " expected error containing '" << c.expect << "'";
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << c.op << ": " << st.message();
  }
}

// Not a correctness check: reports how long the reference Conv takes on a ResNet-sized layer.
TEST(ConvRef, TimingResNetLayer) {
  std::mt19937 rng(4);
  auto make_graph = [&] {
    ir::Graph g;
    g.opset_imports[""] = 17;
    ir::Value* x = g.add_value("x");
    x->desc = ir::TensorDesc::known(DType::kF32, {1, 64, 56, 56});
    g.inputs.push_back(x);
    ir::Value* w = g.add_constant("w", random_f32({64, 64, 3, 3}, rng));
    ir::Value* b = g.add_constant("b", random_f32({64}, rng));
    ir::Value* y = g.add_value("y");
    g.outputs.push_back(y);
    g.add_node("Conv", {x, w, b}, {y}, "conv")->attrs = {{"pads", ints({1, 1, 1, 1})}};
    return g;
  };
  for (int threads : {1, 0}) {
    SessionOptions opts;
    opts.threads = threads;
    opts.isa = "scalar";  // the reference kernel even when optimized kernels exist
    std::unique_ptr<Session> sess;
    ASSERT_TRUE(Session::create(make_graph(), opts, sess).is_ok());
    std::vector<std::pair<std::string, Tensor>> feeds = {{"x", random_f32({1, 64, 56, 56}, rng)}};
    std::vector<Tensor> out;
    ASSERT_TRUE(sess->run(feeds, out).is_ok());  // warm-up
    const int reps = 5;
    auto t0 = std::chrono::steady_clock::now();
    std::clock_t c0 = std::clock();  // process CPU time: meaningful on a shared, loaded machine
    for (int i = 0; i < reps; ++i) ASSERT_TRUE(sess->run(feeds, out).is_ok());
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
    double cpu_ms = 1000.0 * double(std::clock() - c0) / CLOCKS_PER_SEC / reps;
    std::printf("reference Conv 1x64x56x56 3x3 64->64 (threads=%s): %.1f ms wall, %.1f ms CPU per run\n",
                threads ? "1" : "all", ms, cpu_ms);
  }
}

TEST(ConvTransposeRef, MatchesNaiveScatter2d) {
  std::mt19937 rng(21);
  auto pick = [&](std::vector<int64_t> v) { return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)]; };
  for (int iter = 0; iter < 40; ++iter) {
    int64_t group = pick({1, 1, 3}), c = group * pick({1, 2}), mg = pick({1, 2, 5});
    int64_t ih = pick({1, 3, 5}), iw = pick({2, 4, 7}), kh = pick({1, 2, 3}), kw = pick({1, 3});
    int64_t sh = pick({1, 2, 3}), sw = pick({1, 2}), dh = pick({1, 2}), dw = pick({1, 2});
    int64_t oph = pick({0, 1}) % sh, opw = pick({0, 1}) % sw;
    int64_t pt = pick({0, 1}), pl = pick({0, 1}), pbm = pick({0, 1}), pr = pick({0, 2});
    int64_t oh = sh * (ih - 1) + oph + (kh - 1) * dh + 1 - pt - pbm, ow = sw * (iw - 1) + opw + (kw - 1) * dw + 1 - pl - pr;
    if (oh < 1 || ow < 1) continue;
    int64_t m = mg * group, cg = c / group;
    Tensor x = random_f32({2, c, ih, iw}, rng), wt = random_f32({c, mg, kh, kw}, rng), b = random_f32({m}, rng);
    std::vector<double> want(size_t(2 * m * oh * ow));
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t oc = 0; oc < m; ++oc)
        for (int64_t i = 0; i < oh * ow; ++i) want[size_t((n * m + oc) * oh * ow + i)] = b.data<float>()[oc];
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t j = 0; j < mg; ++j)
          for (int64_t y0 = 0; y0 < ih; ++y0)
            for (int64_t x0 = 0; x0 < iw; ++x0)
              for (int64_t a = 0; a < kh; ++a)
                for (int64_t e = 0; e < kw; ++e) {
                  int64_t oy = y0 * sh - pt + a * dh, ox = x0 * sw - pl + e * dw;
                  if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                  int64_t oc = (ci / cg) * mg + j;
                  want[size_t(((n * m + oc) * oh + oy) * ow + ox)] += double(x.data<float>()[((n * c + ci) * ih + y0) * iw + x0]) *
                                                                       wt.data<float>()[((ci * mg + j) * kh + a) * kw + e];
                }
    Attrs attrs = {{"group", int_attr(group)},         {"strides", ints({sh, sw})},
                   {"dilations", ints({dh, dw})},      {"pads", ints({pt, pl, pbm, pr})},
                   {"output_padding", ints({oph, opw})}};
    std::vector<Tensor> out;
    Status st = run_op("ConvTranspose", {x, wt, b}, attrs, 1, out, 17, iter % 2 ? 3 : 1);
    ASSERT_TRUE(st.is_ok()) << st.message();
    expect_close(out[0], want, {2, m, oh, ow}, 1e-5, "conv_transpose case " + std::to_string(iter));
    // output_shape gives the same result when it asks for the size the pads produce.
    if (pt == pbm && pl == pr) {
      Attrs a2 = attrs;
      a2.erase("pads");
      a2["output_shape"] = ints({oh, ow});
      st = run_op("ConvTranspose", {x, wt, b}, a2, 1, out, 17);
      ASSERT_TRUE(st.is_ok()) << st.message();
      expect_close(out[0], want, {2, m, oh, ow}, 1e-5, "conv_transpose output_shape case " + std::to_string(iter));
    }
  }
}

TEST(PoolRef, LpPoolAndGlobalPools) {
  std::mt19937 rng(8);
  Win w{{6, 7}, {3, 2}, {2, 1}, {1, 1}, {1, 0}, {1, 1}, {}};
  for (size_t i = 0; i < 2; ++i) w.out.push_back(out_dim(w.in[i], w.k[i], w.s[i], w.d[i], w.pb[i], w.pe[i], false));
  Tensor x = random_f32({2, 3, 6, 7}, rng);
  int64_t nout = w.out[0] * w.out[1];
  std::vector<double> want(size_t(6 * nout), 0.0);
  for (int64_t pl = 0; pl < 6; ++pl)
    each_tap(w, [&](int64_t o, int64_t flat, bool) {
      if (flat >= 0) want[size_t(pl * nout + o)] += std::pow(std::fabs(x.value_as_double(pl * 42 + flat)), 3);
    });
  for (double& v : want) v = std::cbrt(v);
  Attrs attrs = window_attrs(w);
  attrs.erase("dilations");
  attrs["kernel_shape"] = ints(w.k);
  attrs["p"] = int_attr(3);
  std::vector<Tensor> out;
  Status st = run_op("LpPool", {x}, attrs, 1, out, 11);
  ASSERT_TRUE(st.is_ok()) << st.message();
  expect_close(out[0], want, nc_shape(2, 3, w.out), 1e-5, "lppool");

  std::vector<double> avg, mx, lp;
  for (int64_t pl = 0; pl < 6; ++pl) {
    double s = 0, m = -INFINITY, l = 0;
    for (int64_t i = 0; i < 42; ++i) {
      double v = x.value_as_double(pl * 42 + i);
      s += v, m = std::max(m, v), l += v * v;
    }
    avg.push_back(s / 42), mx.push_back(m), lp.push_back(std::sqrt(l));
  }
  for (auto [op, ref] : {std::pair{"GlobalAveragePool", &avg}, std::pair{"GlobalMaxPool", &mx}, std::pair{"GlobalLpPool", &lp}}) {
    st = run_op(op, {x}, {}, 1, out, 13);
    ASSERT_TRUE(st.is_ok()) << st.message();
    expect_close(out[0], *ref, {2, 3, 1, 1}, 1e-6, op);
  }
}

TEST(NormRef, BatchNormSpatialZeroAndMixedDtypes) {
  std::mt19937 rng(17);
  Tensor x = random_f32({2, 3, 5}, rng);
  // opset 7, spatial=0: one statistic per (channel, position).
  Tensor s = random_f32({3, 5}, rng), b = random_f32({3, 5}, rng), mean = random_f32({3, 5}, rng), var = random_f32({3, 5}, rng);
  for (int64_t i = 0; i < var.numel(); ++i) var.data<float>()[i] = std::fabs(var.data<float>()[i]) + 0.1f;
  std::vector<double> want(size_t(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t slot = i % 15;
    want[size_t(i)] = (x.data<float>()[i] - double(mean.data<float>()[slot])) / std::sqrt(double(var.data<float>()[slot]) + 1e-5) *
                          s.data<float>()[slot] +
                      b.data<float>()[slot];
  }
  std::vector<Tensor> out;
  Status st = run_op("BatchNormalization", {x, s, b, mean, var}, {{"spatial", int_attr(0)}}, 1, out, 7);
  ASSERT_TRUE(st.is_ok()) << st.message();
  expect_close(out[0], want, x.shape(), 1e-5, "batchnorm spatial=0");

  // opset 15: float16 X with float32 statistics, per channel.
  Tensor xh(DType::kF16, {2, 3, 5});
  for (int64_t i = 0; i < x.numel(); ++i) xh.data<Half>()[i] = Half(x.data<float>()[i]);
  Tensor s1 = random_f32({3}, rng), b1 = random_f32({3}, rng), m1 = random_f32({3}, rng), v1 = random_f32({3}, rng);
  for (int64_t i = 0; i < 3; ++i) v1.data<float>()[i] = std::fabs(v1.data<float>()[i]) + 0.1f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t ch = (i / 5) % 3;
    want[size_t(i)] = (xh.value_as_double(i) - m1.data<float>()[ch]) / std::sqrt(double(v1.data<float>()[ch]) + 1e-5) *
                          s1.data<float>()[ch] +
                      b1.data<float>()[ch];
  }
  st = run_op("BatchNormalization", {xh, s1, b1, m1, v1}, {}, 1, out, 15);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(out[0].dtype(), DType::kF16);
  expect_close(out[0], want, x.shape(), 2e-3, "batchnorm f16");
}
