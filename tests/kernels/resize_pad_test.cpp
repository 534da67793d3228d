// Pad / Resize / Upsample: reference kernels against index arithmetic written independently here,
// on seeded random data with odd shapes, across opsets; plus clean errors for bad pads and scales.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "joule/session.h"
#include "runtime/ir/graph.h"

using namespace joule;

namespace {

// One node input: a runtime graph input (fed at run time), a constant, or omitted ("").
struct In {
  Tensor t;
  bool constant = true;
  bool omitted = false;
};
In runtime_in(Tensor t) { return {std::move(t), false, false}; }
In const_in(Tensor t) { return {std::move(t), true, false}; }
In omitted() { return {Tensor(), true, true}; }

ir::Attribute attr_i(int64_t v) { return ir::Attribute::of_int(v); }
ir::Attribute attr_f(float v) { return ir::Attribute::of_float(v); }
ir::Attribute attr_s(std::string v) { return ir::Attribute::of_string(std::move(v)); }
ir::Attribute attr_is(std::vector<int64_t> v) { return ir::Attribute::of_ints(std::move(v)); }
ir::Attribute attr_fs(std::vector<float> v) { return ir::Attribute::of_floats(std::move(v)); }

// Builds a one-node graph at `opset`, creates a session and runs it.
Status run_op(int opset, const std::string& op, const std::vector<In>& ins, std::map<std::string, ir::Attribute> attrs, Tensor& out) {
  ir::Graph g;
  g.opset_imports[""] = opset;
  std::vector<ir::Value*> vs;
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (size_t i = 0; i < ins.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    if (ins[i].omitted) {
      vs.push_back(nullptr);
    } else if (ins[i].constant) {
      vs.push_back(g.add_constant(name, ins[i].t));
    } else {
      ir::Value* v = g.add_value(name);
      v->desc = ir::TensorDesc::known(ins[i].t.dtype(), ins[i].t.shape());
      g.inputs.push_back(v);
      vs.push_back(v);
      feeds.push_back({name, ins[i].t});
    }
  }
  ir::Value* y = g.add_value("y");
  ir::Node* n = g.add_node(op, vs, {y}, "node");
  n->attrs = std::move(attrs);
  g.outputs.push_back(y);
  std::unique_ptr<Session> s;
  JOULE_RETURN_IF_ERROR(Session::create(std::move(g), {}, s));
  std::vector<Tensor> outs;
  JOULE_RETURN_IF_ERROR(s->run(feeds, outs));
  out = outs.at(0);
  return Status::ok();
}

Tensor random_f32(Shape s, uint32_t seed) {
  Tensor t(DType::kF32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-3, 3);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

Tensor random_i64(Shape s, uint32_t seed) {
  Tensor t(DType::kI64, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> d(-(int64_t{1} << 60), int64_t{1} << 60);  // beyond double precision
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = d(rng);
  return t;
}

// Multi-index <-> flat offset for a row-major shape.
std::vector<int64_t> unflatten(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}
int64_t flatten(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t off = 0;
  for (size_t d = 0; d < s.size(); ++d) off = off * s[d] + idx[d];
  return off;
}

// ------------------------------------------------------------------------------------------------
// Pad
// ------------------------------------------------------------------------------------------------

// Expected Pad output: crop negative pads first, then pad like numpy.pad (reflection repeated by
// mirroring step by step, wrap by modulo). Returns the input flat index or -1 for the constant.
int64_t pad_source(const std::string& mode, const std::vector<int64_t>& o, const Shape& in, const std::vector<int64_t>& pads) {
  const size_t r = in.size();
  std::vector<int64_t> idx(r);
  for (size_t d = 0; d < r; ++d) {
    const int64_t b = pads[d], e = pads[d + r];
    const int64_t crop_lo = b < 0 ? -b : 0, crop_hi = e < 0 ? -e : 0;
    const int64_t m = in[d] - crop_lo - crop_hi;
    int64_t j = o[d] - (b > 0 ? b : 0);  // coordinate in the cropped array
    if (mode == "constant") {
      if (j < 0 || j >= m) return -1;
    } else if (mode == "edge") {
      j = std::min(std::max<int64_t>(j, 0), m - 1);
    } else if (mode == "wrap") {
      j = ((j % m) + m) % m;
    } else {  // reflect
      if (m == 1) j = 0;
      while (j < 0 || j >= m) j = j < 0 ? -j : 2 * (m - 1) - j;
    }
    idx[d] = j + crop_lo;
  }
  return flatten(idx, in);
}

Shape pad_out_shape(const Shape& in, const std::vector<int64_t>& pads) {
  Shape o = in;
  for (size_t d = 0; d < in.size(); ++d) o[d] += pads[d] + pads[d + in.size()];
  return o;
}

// Random pads in [-2, 5] that leave at least one input element per axis.
std::vector<int64_t> random_pads(const Shape& in, std::mt19937& rng) {
  std::uniform_int_distribution<int64_t> d(-2, 5);
  std::vector<int64_t> p(2 * in.size());
  for (size_t k = 0; k < in.size(); ++k) {
    do {
      p[k] = d(rng);
      p[k + in.size()] = d(rng);
    } while (in[k] + std::min<int64_t>(p[k], 0) + std::min<int64_t>(p[k + in.size()], 0) < 1);
  }
  return p;
}

TEST(Pad, EveryModeMatchesIndexArithmetic) {
  std::mt19937 rng(11);
  const std::vector<Shape> shapes = {{17}, {3, 17}, {1, 3, 17}, {1, 1, 1}};
  for (int opset : {10, 11, 13, 18, 19}) {
    std::vector<std::string> modes = {"constant", "reflect", "edge"};
    if (opset >= 19) modes.push_back("wrap");
    for (const std::string& mode : modes) {
      for (const Shape& shape : shapes) {
        SCOPED_TRACE("opset " + std::to_string(opset) + " mode " + mode + " shape " + shape_to_string(shape));
        Tensor x = random_f32(shape, static_cast<uint32_t>(rng()));
        std::vector<int64_t> pads = random_pads(shape, rng);
        const float value = 1.25f;
        std::map<std::string, ir::Attribute> attrs = {{"mode", attr_s(mode)}};
        std::vector<In> ins = {runtime_in(x)};
        if (opset < 11) {
          attrs["pads"] = attr_is(pads);
          attrs["value"] = attr_f(value);
        } else {
          ins.push_back(const_in(Tensor::from_vector<int64_t>({static_cast<int64_t>(pads.size())}, pads)));
          ins.push_back(const_in(Tensor::scalar<float>(value)));
        }
        Tensor y;
        Status st = run_op(opset, "Pad", ins, attrs, y);
        ASSERT_TRUE(st.is_ok()) << st.message();
        ASSERT_EQ(y.shape(), pad_out_shape(shape, pads));
        for (int64_t i = 0; i < y.numel(); ++i) {
          int64_t src = pad_source(mode, unflatten(i, y.shape()), shape, pads);
          float want = src < 0 ? value : x.data<float>()[src];
          ASSERT_EQ(y.data<float>()[i], want) << "element " << i;
        }
      }
    }
  }
}

TEST(Pad, AxesInputRuntimePadsAndInt64Exactness) {
  // Opset 18 axes input (negative axis), pads fed at run time, int64 data beyond 2^53.
  std::mt19937 rng(5);
  const Shape shape = {3, 1, 17};
  Tensor x = random_i64(shape, 3);
  for (const std::string mode : {"constant", "reflect", "edge"}) {
    std::vector<int64_t> pads_axes = {2, -3, 4, 1};  // axes {0, -1}: begin 2, -3; end 4, 1
    std::vector<int64_t> full = {2, 0, -3, 4, 0, 1};
    Tensor y;
    Status st = run_op(18, "Pad",
                       {runtime_in(x), runtime_in(Tensor::from_vector<int64_t>({4}, pads_axes)),
                        const_in(Tensor::scalar<int64_t>(-7)), const_in(Tensor::from_vector<int64_t>({2}, {0, -1}))},
                       {{"mode", attr_s(mode)}}, y);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_EQ(y.shape(), pad_out_shape(shape, full));
    for (int64_t i = 0; i < y.numel(); ++i) {
      int64_t src = pad_source(mode, unflatten(i, y.shape()), shape, full);
      ASSERT_EQ(y.data<int64_t>()[i], src < 0 ? -7 : x.data<int64_t>()[src]) << mode << " element " << i;
    }
  }
  (void)rng;
}

TEST(Pad, ErrorsAreClean) {
  Tensor x = random_f32({3, 17}, 1);
  Tensor y;
  // Wrong number of pads.
  Status st = run_op(13, "Pad", {runtime_in(x), const_in(Tensor::from_vector<int64_t>({3}, {1, 2, 3}))}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel);
  EXPECT_NE(st.message().find("pads has 3 values but 4 are needed"), std::string::npos) << st.message();
  st = run_op(10, "Pad", {runtime_in(x)}, {{"pads", attr_is({1, 1, 1})}}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  // Wrong pads length fed at run time fails at run time, cleanly.
  st = run_op(13, "Pad", {runtime_in(x), runtime_in(Tensor::from_vector<int64_t>({5}, {1, 2, 3, 4, 5}))}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  // Cropping more than the axis holds.
  st = run_op(13, "Pad", {runtime_in(x), const_in(Tensor::from_vector<int64_t>({4}, {0, -10, 0, -10}))}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel);
  EXPECT_NE(st.message().find("remove more than"), std::string::npos) << st.message();
  // Reflect with nothing left to reflect.
  st = run_op(13, "Pad", {runtime_in(x), const_in(Tensor::from_vector<int64_t>({4}, {2, 0, -3, 0}))}, {{"mode", attr_s("reflect")}}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  // Unknown mode; wrap before opset 19.
  st = run_op(13, "Pad", {runtime_in(x), const_in(Tensor::from_vector<int64_t>({4}, {1, 1, 1, 1}))}, {{"mode", attr_s("mirror")}}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  st = run_op(18, "Pad", {runtime_in(x), const_in(Tensor::from_vector<int64_t>({4}, {1, 1, 1, 1}))}, {{"mode", attr_s("wrap")}}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  // Absurd pads.
  st = run_op(13, "Pad", {runtime_in(x), const_in(Tensor::from_vector<int64_t>({4}, {0, int64_t{1} << 40, 0, 0}))}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  st = run_op(13, "Pad", {runtime_in(x), runtime_in(Tensor::from_vector<int64_t>({4}, {100000000, 100000000, 0, 0}))}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  // Axis out of range.
  st = run_op(18, "Pad", {runtime_in(x), const_in(Tensor::from_vector<int64_t>({2}, {1, 1})), omitted(), const_in(Tensor::from_vector<int64_t>({1}, {2}))}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
}

// ------------------------------------------------------------------------------------------------
// Resize
// ------------------------------------------------------------------------------------------------

// Original coordinate of output index y (real output length s*n, integer output length out).
double coord(const std::string& m, int64_t y, int64_t n, int64_t out, double s) {
  const double L = s * static_cast<double>(n);
  if (m == "half_pixel") return (y + 0.5) / s - 0.5;
  if (m == "pytorch_half_pixel") return L == 1 ? -0.5 : (y + 0.5) / s - 0.5;
  if (m == "align_corners") return L == 1 ? 0.0 : y * (n - 1.0) / (L - 1.0);
  if (m == "asymmetric") return y / s;
  if (m == "half_pixel_symmetric") return n / 2.0 * (1 - out / L) + (y + 0.5) / s - 0.5;
  ADD_FAILURE() << "unknown mode " << m;
  return 0;
}

int64_t clampi(int64_t i, int64_t n) { return std::min(std::max<int64_t>(i, 0), n - 1); }

// 1-D sample of row `v` (stride `st`, length n) at coordinate x with the given interpolation mode.
double sample_1d(const std::function<double(int64_t)>& v, int64_t n, double x, const std::string& mode, const std::string& nearest) {
  if (mode == "nearest") {
    double f = std::floor(x), fr = x - f;
    double pick = f;
    if (nearest == "round_prefer_floor") pick = fr > 0.5 ? f + 1 : f;
    else if (nearest == "round_prefer_ceil") pick = fr >= 0.5 ? f + 1 : f;
    else if (nearest == "ceil") pick = std::ceil(x);
    return v(clampi(static_cast<int64_t>(pick), n));
  }
  if (mode == "linear") {
    double f = std::floor(x), fr = x - f;
    int64_t i = static_cast<int64_t>(f);
    return (1 - fr) * v(clampi(i, n)) + fr * v(clampi(i + 1, n));
  }
  // cubic, Keys kernel with A = -0.75 over the 4 nearest samples.
  const double A = -0.75;
  auto keys = [&](double t) {
    t = std::fabs(t);
    if (t <= 1) return (A + 2) * t * t * t - (A + 3) * t * t + 1;
    if (t < 2) return A * t * t * t - 5 * A * t * t + 8 * A * t - 4 * A;
    return 0.0;
  };
  double f = std::floor(x), acc = 0;
  for (int64_t i = static_cast<int64_t>(f) - 1; i <= static_cast<int64_t>(f) + 2; ++i) acc += keys(x - i) * v(clampi(i, n));
  return acc;
}

struct ResizeCase {
  Shape in;
  std::vector<float> scales;    // empty: use sizes
  std::vector<int64_t> sizes;
};

// Expected output for a 1-D or 2-D input, resized with scales or sizes (separable: rows first).
std::vector<double> expected_resize(const Tensor& x, const Shape& out, const std::vector<double>& s, const std::string& mode,
                                    const std::string& ctm, const std::string& nearest) {
  const Shape& in = x.shape();
  const float* p = x.data<float>();
  std::vector<double> res;
  if (in.size() == 1) {
    for (int64_t y = 0; y < out[0]; ++y)
      res.push_back(sample_1d([&](int64_t i) { return p[i]; }, in[0], coord(ctm, y, in[0], out[0], s[0]), mode, nearest));
    return res;
  }
  for (int64_t yr = 0; yr < out[0]; ++yr)
    for (int64_t yc = 0; yc < out[1]; ++yc) {
      const double xc = coord(ctm, yc, in[1], out[1], s[1]);
      auto row = [&](int64_t r) { return sample_1d([&](int64_t c) { return p[r * in[1] + c]; }, in[1], xc, mode, nearest); };
      res.push_back(sample_1d(row, in[0], coord(ctm, yr, in[0], out[0], s[0]), mode, nearest));
    }
  return res;
}

TEST(Resize, NearestLinearCubicMatchDirectComputation) {
  const std::vector<ResizeCase> cases = {
      {{17}, {2.5f}, {}}, {{17}, {0.3f}, {}}, {{17}, {}, {40}}, {{17}, {}, {1}}, {{1}, {}, {3}},
      {{3, 17}, {2.0f, 0.6f}, {}}, {{3, 17}, {}, {7, 6}}, {{1, 3}, {}, {3, 1}},
  };
  const std::vector<std::string> modes = {"nearest", "linear", "cubic"};
  const std::vector<std::string> ctms = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric"};
  const std::vector<std::string> nearests = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  uint32_t seed = 100;
  for (const ResizeCase& c : cases)
    for (const std::string& mode : modes)
      for (const std::string& ctm : ctms)
        for (const std::string& nearest : nearests) {
          if (mode != "nearest" && nearest != "round_prefer_floor") continue;
          Tensor x = random_f32(c.in, ++seed);
          std::vector<double> s;
          Shape out;
          for (size_t d = 0; d < c.in.size(); ++d) {
            if (!c.scales.empty()) {
              s.push_back(c.scales[d]);
              out.push_back(static_cast<int64_t>(std::floor(c.in[d] * static_cast<double>(c.scales[d]))));
            } else {
              s.push_back(static_cast<double>(c.sizes[d]) / static_cast<double>(c.in[d]));
              out.push_back(c.sizes[d]);
            }
          }
          const int64_t r = static_cast<int64_t>(c.in.size());
          std::vector<In> ins = {runtime_in(x), omitted()};
          if (!c.scales.empty()) ins.push_back(const_in(Tensor::from_vector<float>({r}, c.scales)));
          else ins.push_back(omitted()), ins.push_back(const_in(Tensor::from_vector<int64_t>({r}, c.sizes)));
          Tensor y;
          SCOPED_TRACE(shape_to_string(c.in) + " -> " + shape_to_string(out) + " " + mode + " " + ctm + " " + nearest);
          Status st = run_op(19, "Resize", ins,
                             {{"mode", attr_s(mode)}, {"coordinate_transformation_mode", attr_s(ctm)}, {"nearest_mode", attr_s(nearest)}}, y);
          ASSERT_TRUE(st.is_ok()) << st.message();
          ASSERT_EQ(y.shape(), out);
          std::vector<double> want = expected_resize(x, out, s, mode, ctm, nearest);
          for (int64_t i = 0; i < y.numel(); ++i)
            ASSERT_NEAR(y.data<float>()[i], want[static_cast<size_t>(i)], 1e-5 + 1e-5 * std::fabs(want[static_cast<size_t>(i)]))
                << "element " << i;
        }
}

TEST(Resize, AxesAttributeAndAntialiasAndLegacyOps) {
  // Opset 18: resize only axes {3, 2} of an N x C x H x W tensor; each plane matches 2-D bilinear.
  Tensor x = random_f32({1, 3, 5, 17}, 7);
  Tensor y;
  Status st = run_op(18, "Resize", {runtime_in(x), omitted(), omitted(), const_in(Tensor::from_vector<int64_t>({2}, {9, 4}))},
                     {{"mode", attr_s("linear")}, {"axes", attr_is({3, 2})}}, y);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(y.shape(), (Shape{1, 3, 4, 9}));
  for (int64_t c = 0; c < 3; ++c) {
    Tensor plane = Tensor::from_vector<float>({5, 17}, std::vector<float>(x.data<float>() + c * 85, x.data<float>() + (c + 1) * 85));
    std::vector<double> want = expected_resize(plane, {4, 9}, {4.0 / 5, 9.0 / 17}, "linear", "half_pixel", "");
    for (int64_t i = 0; i < 36; ++i) ASSERT_NEAR(y.data<float>()[c * 36 + i], want[static_cast<size_t>(i)], 1e-5);
  }
  // keep_aspect_ratio_policy: one scale min(4/5, 9/17) for both axes, sizes rounded half up.
  st = run_op(18, "Resize", {runtime_in(x), omitted(), omitted(), const_in(Tensor::from_vector<int64_t>({2}, {4, 9}))},
              {{"mode", attr_s("nearest")}, {"axes", attr_is({2, 3})}, {"keep_aspect_ratio_policy", attr_s("not_larger")}}, y);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(y.shape(), (Shape{1, 3, 3, 9}));  // 5 * 9/17 = 2.65 -> 3, 17 * 9/17 = 9

  // Antialiased linear downsampling by 2 (half_pixel): a [1,3,3,1]/8 filter centred between 2y and 2y+1.
  Tensor v = random_f32({17}, 9);
  st = run_op(18, "Resize", {runtime_in(v), omitted(), const_in(Tensor::from_vector<float>({1}, {0.5f}))},
              {{"mode", attr_s("linear")}, {"antialias", attr_i(1)}}, y);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(y.shape(), (Shape{8}));
  const float* pv = v.data<float>();
  for (int64_t i = 0; i < 8; ++i) {
    double want = (pv[clampi(2 * i - 1, 17)] + 3 * pv[2 * i] + 3 * pv[2 * i + 1] + pv[clampi(2 * i + 2, 17)]) / 8;
    EXPECT_NEAR(y.data<float>()[i], want, 1e-5) << i;
  }

  // tf_crop_and_resize: coordinates outside [0, n-1] give extrapolation_value.
  st = run_op(13, "Resize",
              {runtime_in(v), const_in(Tensor::from_vector<float>({2}, {0.5f, 1.4f})), omitted(), const_in(Tensor::from_vector<int64_t>({1}, {5}))},
              {{"mode", attr_s("linear")}, {"coordinate_transformation_mode", attr_s("tf_crop_and_resize")}, {"extrapolation_value", attr_f(10)}}, y);
  ASSERT_TRUE(st.is_ok()) << st.message();
  for (int64_t i = 0; i < 5; ++i) {
    double xo = 0.5 * 16 + i * (static_cast<double>(1.4f) - 0.5) * 16 / 4;  // 8, 11.6, 15.2, 18.8, 22.4
    double want = xo > 16 ? 10.0 : sample_1d([&](int64_t k) { return pv[k]; }, 17, xo, "linear", "");
    EXPECT_NEAR(y.data<float>()[i], want, 1e-5) << i;
  }

  // Upsample-7 (scales attribute) and Upsample-9 / Resize-10 (scales input): asymmetric, floor.
  Tensor m = random_f32({3, 17}, 13);
  for (int variant = 0; variant < 3; ++variant) {
    std::vector<float> sc = {2.0f, 1.5f};
    if (variant == 0) st = run_op(7, "Upsample", {runtime_in(m)}, {{"scales", attr_fs(sc)}, {"mode", attr_s("linear")}}, y);
    else st = run_op(variant == 1 ? 9 : 10, variant == 1 ? "Upsample" : "Resize", {runtime_in(m), const_in(Tensor::from_vector<float>({2}, sc))},
                     {{"mode", attr_s("linear")}}, y);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_EQ(y.shape(), (Shape{6, 25}));
    std::vector<double> want = expected_resize(m, {6, 25}, {2.0, 1.5}, "linear", "asymmetric", "");
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.data<float>()[i], want[static_cast<size_t>(i)], 1e-5) << variant;
    st = variant == 0 ? run_op(7, "Upsample", {runtime_in(m)}, {{"scales", attr_fs(sc)}}, y)
                      : run_op(variant == 1 ? 9 : 10, variant == 1 ? "Upsample" : "Resize", {runtime_in(m), const_in(Tensor::from_vector<float>({2}, sc))}, {}, y);
    ASSERT_TRUE(st.is_ok()) << st.message();
    want = expected_resize(m, {6, 25}, {2.0, 1.5}, "nearest", "asymmetric", "floor");
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.data<float>()[i], static_cast<float>(want[static_cast<size_t>(i)])) << variant;
  }
}

TEST(Resize, NearestCopiesInt64Exactly) {
  Tensor x = random_i64({3, 17}, 21);
  Tensor y;
  Status st = run_op(13, "Resize", {runtime_in(x), omitted(), const_in(Tensor::from_vector<float>({2}, {1.0f, 3.0f}))}, {}, y);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(y.shape(), (Shape{3, 51}));
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 51; ++c) ASSERT_EQ(y.data<int64_t>()[r * 51 + c], x.data<int64_t>()[r * 17 + c / 3]);
}

TEST(Resize, Uint8RoundsAndFloat16Interpolates) {
  // uint8 linear: interpolated in double, rounded to nearest and saturated.
  std::mt19937 rng(31);
  std::vector<uint8_t> v(17);
  for (auto& e : v) e = static_cast<uint8_t>(rng() % 256);
  Tensor x = Tensor::from_vector<uint8_t>({17}, v);
  Tensor y;
  Status st = run_op(13, "Resize", {runtime_in(x), omitted(), const_in(Tensor::from_vector<float>({1}, {2.5f}))}, {{"mode", attr_s("linear")}}, y);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(y.shape(), (Shape{42}));
  for (int64_t i = 0; i < 42; ++i) {
    double want = sample_1d([&](int64_t k) { return static_cast<double>(v[static_cast<size_t>(k)]); }, 17, (i + 0.5) / 2.5 - 0.5, "linear", "");
    ASSERT_EQ(y.data<uint8_t>()[i], static_cast<uint8_t>(std::lround(want))) << i;
  }
  // float16 cubic on 3 x 17 -> 5 x 11 against the float computation at half precision.
  Tensor xf = random_f32({3, 17}, 33);
  Tensor xh(DType::kF16, {3, 17});
  for (int64_t i = 0; i < xf.numel(); ++i) {
    xh.data<Half>()[i] = Half(xf.data<float>()[i]);
    xf.data<float>()[i] = static_cast<float>(xh.data<Half>()[i]);  // same values in both
  }
  st = run_op(13, "Resize", {runtime_in(xh), omitted(), omitted(), const_in(Tensor::from_vector<int64_t>({2}, {5, 11}))}, {{"mode", attr_s("cubic")}}, y);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(y.dtype(), DType::kF16);
  std::vector<double> want = expected_resize(xf, {5, 11}, {5.0 / 3, 11.0 / 17}, "cubic", "half_pixel", "");
  for (int64_t i = 0; i < 55; ++i) ASSERT_NEAR(static_cast<float>(y.data<Half>()[i]), want[static_cast<size_t>(i)], 4e-3 * (1 + std::fabs(want[static_cast<size_t>(i)])));
}

TEST(Resize, ErrorsAreClean) {
  Tensor x = random_f32({1, 3, 17, 17}, 3);
  Tensor y;
  auto scales = [](std::vector<float> v) { return const_in(Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v)); };
  Status st = run_op(13, "Resize", {runtime_in(x), omitted(), scales({1, 1, -2, 2})}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("must be positive"), std::string::npos) << st.message();
  st = run_op(13, "Resize", {runtime_in(x), omitted(), scales({1, 1, 0, 2})}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
  st = run_op(13, "Resize", {runtime_in(x), omitted(), scales({1, 1, 1e9f, 1e9f})}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  st = run_op(13, "Resize", {runtime_in(x), omitted(), scales({1, 1, 3e4f, 3e4f})}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  // Scales fed at run time: the check happens at run time, still cleanly.
  st = run_op(13, "Resize", {runtime_in(x), omitted(), runtime_in(Tensor::from_vector<float>({4}, {1, 1, 1e9f, 1}))}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  st = run_op(13, "Resize", {runtime_in(x), omitted(), omitted(), runtime_in(Tensor::from_vector<int64_t>({4}, {1, 3, int64_t{1} << 40, 1 << 20}))}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kResourceLimit) << st.message();
  st = run_op(13, "Resize", {runtime_in(x), omitted(), omitted(), runtime_in(Tensor::from_vector<int64_t>({4}, {1, 3, -4, 4}))}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
  // Wrong number of scales; both scales and sizes; neither.
  st = run_op(13, "Resize", {runtime_in(x), omitted(), scales({2, 2})}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  st = run_op(13, "Resize", {runtime_in(x), omitted(), scales({1, 1, 2, 2}), const_in(Tensor::from_vector<int64_t>({4}, {1, 3, 4, 4}))}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  st = run_op(13, "Resize", {runtime_in(x)}, {}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  // Bad attributes.
  st = run_op(13, "Resize", {runtime_in(x), omitted(), scales({1, 1, 2, 2})}, {{"mode", attr_s("bicubic")}}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  st = run_op(13, "Resize", {runtime_in(x), omitted(), scales({1, 1, 2, 2})}, {{"coordinate_transformation_mode", attr_s("tf_half_pixel_for_nn")}}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  st = run_op(10, "Resize", {runtime_in(x), scales({1, 1, 2, 2})}, {{"mode", attr_s("cubic")}}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.message();
  st = run_op(7, "Upsample", {runtime_in(x)}, {{"scales", attr_fs({1, 1, -1, 2})}}, y);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
}

}  // namespace
