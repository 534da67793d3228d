// The FP32 elementwise / activation / Softmax / LayerNormalization / GlobalAveragePool kernels
// (kernels/cpu/elementwise_f32*.cpp, softmax_layer_norm_f32.cpp) and the blocked Transpose against the
// reference kernels, for every ISA this CPU can run (JOULE_ISA lowers it), on seeded random data with odd
// shapes and broadcasting combinations; 1 vs 3 threads bitwise. Exact ops (arithmetic, Relu, Clip, ...)
// must match the reference bitwise; the polynomial approximations (exp, tanh, erf) within their measured
// bound, and a dense sweep measures their error in ulp against double-precision libm.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <set>

#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"
#include "runtime/thread_pool.h"

using namespace joule;
using namespace joule::kernels;

namespace {

struct Case {
  std::string what;
  std::shared_ptr<ir::Graph> graph = std::make_shared<ir::Graph>();
  ir::Node* node = nullptr;
  std::vector<Tensor> inputs;  // undefined = omitted optional input
  std::vector<bool> constant;
  std::vector<Shape> out_shapes;
  bool expect_accept = true;
  bool dtypes_unknown_at_load = false;  // descs handed to accepts() without dtypes (dynamic-shape graphs)
};

Tensor random_f32(const Shape& s, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  Tensor t(DType::kF32, s);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

Case make_case(const std::string& domain, const std::string& op, std::vector<Tensor> inputs, std::vector<Shape> outs,
               const std::string& what, int opset = 17) {
  Case c;
  c.what = what;
  c.inputs = std::move(inputs);
  c.constant.assign(c.inputs.size(), false);
  c.out_shapes = std::move(outs);
  std::vector<ir::Value*> ins, os;
  for (size_t i = 0; i < c.inputs.size(); ++i) ins.push_back(c.inputs[i].defined() ? c.graph->add_value("in" + std::to_string(i)) : nullptr);
  for (size_t i = 0; i < c.out_shapes.size(); ++i) os.push_back(c.graph->add_value("out" + std::to_string(i)));
  c.node = c.graph->add_node(op, ins, os, "simd_" + op);
  c.node->domain = domain;
  c.node->opset = opset;
  return c;
}

KernelQuery query_of(const Case& c) {
  KernelQuery q{*c.node, {}, {}};
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor& t = c.inputs[i];
    q.inputs.push_back(t.defined() && !c.dtypes_unknown_at_load ? ir::TensorDesc::known(t.dtype(), t.shape()) : ir::TensorDesc{});
    q.constant_inputs.push_back(t.defined() && c.constant[i] ? &t : nullptr);
  }
  return q;
}

Status run_kernel(const KernelDef& k, const Case& c, ThreadPool* pool, std::vector<Tensor>& outs) {
  KernelQuery q = query_of(c);
  std::shared_ptr<const void> state;
  if (k.prepare) JOULE_RETURN_IF_ERROR(k.prepare(q, state));
  outs.clear();
  for (const Shape& s : c.out_shapes) outs.emplace_back(c.inputs[0].dtype(), s);
  KernelContext ctx{*c.node, {}, {}, pool, state.get()};
  for (Tensor& t : outs) ctx.outputs.push_back(&t);
  for (const Tensor& t : c.inputs) ctx.inputs.push_back(t.defined() ? &t : nullptr);
  return k.run(ctx);
}

// Max over elements of |fast - ref| / (|ref| + mean|ref|) (the oracle's metric, robust near 0).
double rel_error(const Tensor& fast, const Tensor& ref) {
  double mean = 0;  // over finite values (the cases plant NaN, Exp reaches inf)
  int64_t finite = 0;
  for (int64_t i = 0; i < ref.numel(); ++i)
    if (std::isfinite(ref.data<float>()[i])) mean += std::fabs(ref.data<float>()[i]), ++finite;
  mean = mean / std::max<int64_t>(1, finite) + 1e-30;
  double worst = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    double r = ref.data<float>()[i], f = fast.data<float>()[i];
    if (std::isnan(f) != std::isnan(r)) return INFINITY;
    if (std::isnan(r)) continue;
    if (std::isinf(r) || std::isinf(f)) {
      if (r != f) return INFINITY;
      continue;
    }
    worst = std::max(worst, std::fabs(f - r) / (std::fabs(r) + mean));
  }
  return worst;
}

// Max |fast - ref| / max(1, max |ref|).
double abs_error(const Tensor& fast, const Tensor& ref) {
  double worst = 0, scale = 1;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    double r = ref.data<float>()[i], f = fast.data<float>()[i];
    if (std::isnan(f) != std::isnan(r)) return INFINITY;
    if (std::isnan(r)) continue;
    if (std::isinf(r) || std::isinf(f)) {
      if (r != f) return INFINITY;
      continue;
    }
    scale = std::max(scale, std::fabs(r));
    worst = std::max(worst, std::fabs(f - r));
  }
  return worst / scale;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// Same bits element by element, except that any NaN equals any NaN (payload and sign are not specified).
::testing::AssertionResult same_values(const Tensor& a, const Tensor& b) {
  if (a.dtype() != DType::kF32) {
    if (bitwise_equal(a, b)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "bytes differ";
  }
  if (a.shape() != b.shape()) return ::testing::AssertionFailure() << "shapes differ";
  for (int64_t i = 0; i < a.numel(); ++i) {
    float x = a.data<float>()[i], y = b.data<float>()[i];
    if (std::isnan(x) && std::isnan(y)) continue;
    if (std::memcmp(&x, &y, sizeof x) != 0) return ::testing::AssertionFailure() << "element " << i << ": " << x << " vs " << y;
  }
  return ::testing::AssertionSuccess();
}

// Bound per op against the reference: 0 = bitwise equal.
double bound_for(const std::string& op) {
  static const std::map<std::string, double> approx = {
      {"Sigmoid", 1e-6}, {"Tanh", 1e-6}, {"Erf", 1e-6}, {"Gelu", 1e-6}, {"FastGelu", 1e-6}, {"Exp", 1e-6},
      {"Softmax", 2e-6}, {"LayerNormalization", 2e-6}, {"GlobalAveragePool", 1e-6},
      // x * x is correctly rounded, glibc's powf(x, 2) is not always; alpha * x + beta may be one FMA here.
      {"Pow", 1e-7}, {"HardSigmoid", 1e-7}, {"AveragePool", 1e-6}};
  auto it = approx.find(op);
  return it == approx.end() ? 0.0 : it->second;
}

// Shape pairs (a, b) -> broadcast output: same shape, scalar, trailing vector, per-channel, both sides.
const std::vector<std::array<Shape, 3>>& broadcast_shapes() {
  static const std::vector<std::array<Shape, 3>> s = {
      {Shape{1}, Shape{1}, Shape{1}},
      {Shape{3}, Shape{3}, Shape{3}},
      {Shape{17}, Shape{17}, Shape{17}},
      {Shape{255}, Shape{255}, Shape{255}},
      {Shape{1023}, Shape{1023}, Shape{1023}},
      {Shape{255, 1023}, Shape{255, 1023}, Shape{255, 1023}},  // large enough to split over threads
      {Shape{1023}, Shape{}, Shape{1023}},                     // tensor op scalar
      {Shape{}, Shape{17}, Shape{17}},                         // scalar op tensor
      {Shape{3, 17}, Shape{17}, Shape{3, 17}},                 // trailing vector (bias)
      {Shape{255, 1023}, Shape{1023}, Shape{255, 1023}},
      {Shape{17}, Shape{255, 17}, Shape{255, 17}},
      {Shape{2, 3, 17, 5}, Shape{3, 1, 1}, Shape{2, 3, 17, 5}},  // per channel (NCHW)
      {Shape{1, 255, 33, 33}, Shape{1, 255, 1, 1}, Shape{1, 255, 33, 33}},
      {Shape{17, 1}, Shape{1, 255}, Shape{17, 255}},  // outer product
      {Shape{1, 3, 1, 17}, Shape{2, 1, 5, 1}, Shape{2, 3, 5, 17}},
      {Shape{2, 16, 16}, Shape{2, 1, 16}, Shape{2, 16, 16}},  // attention mask add
  };
  return s;
}

std::vector<Case> cases_for(const std::string& domain, const std::string& op) {
  std::mt19937 rng(std::hash<std::string>{}(op) % 100000);
  std::vector<Case> cs;
  static const std::set<std::string> binary = {"Add", "Sub", "Mul", "Div", "Max", "Min"};
  auto sh = [](const Shape& s) { return shape_to_string(s); };
  if (binary.count(op)) {
    for (auto& [a, b, o] : broadcast_shapes()) {
      Tensor ta = random_f32(a, rng), tb = random_f32(b, rng);
      if (op == "Div")
        for (int64_t i = 0; i < tb.numel(); ++i) tb.data<float>()[i] += tb.data<float>()[i] < 0 ? -0.25f : 0.25f;
      if ((op == "Max" || op == "Min") && ta.numel() > 2) {
        ta.data<float>()[1] = NAN;  // NaN propagates, like numpy
        ta.data<float>()[2] = tb.numel() > 2 ? tb.data<float>()[2] : 0.0f;
      }
      cs.push_back(make_case(domain, op, {ta, tb}, {o}, sh(a) + " op " + sh(b)));
    }
    {  // dtypes unknown when the kernel is chosen, int32 at run time: handed to the reference kernel
      Tensor ia(DType::kI32, {3, 17}), ib(DType::kI32, {17});
      for (int64_t i = 0; i < ia.numel(); ++i) ia.data<int32_t>()[i] = static_cast<int32_t>(i * 37 % 101) - 50;
      for (int64_t i = 0; i < ib.numel(); ++i) ib.data<int32_t>()[i] = static_cast<int32_t>(i % 7) + 1;
      Case c = make_case(domain, op, {ia, ib}, {{3, 17}}, "int32 behind unknown dtypes");
      c.dtypes_unknown_at_load = true;
      cs.push_back(std::move(c));
    }
    {
      Case c = make_case(domain, op, {random_f32({255}, rng), random_f32({1}, rng)}, {{255}}, "f32 behind unknown dtypes");
      c.dtypes_unknown_at_load = true;
      cs.push_back(std::move(c));
    }
    Case three = make_case(domain, op, {random_f32({3}, rng), random_f32({3}, rng), random_f32({3}, rng)}, {{3}}, "3 inputs");
    three.expect_accept = op != "Max" && op != "Min";
    if (three.inputs.size() == 3 && !three.expect_accept) cs.push_back(std::move(three));
    return cs;
  }
  if (op == "Pow") {
    Case c = make_case(domain, op, {random_f32({1023}, rng), Tensor::scalar<float>(2.0f)}, {{1023}}, "x^2 const");
    c.constant[1] = true;
    cs.push_back(std::move(c));
    Case d = make_case(domain, op, {random_f32({17}, rng), Tensor::scalar<float>(3.0f)}, {{17}}, "x^3 refused");
    d.constant[1] = true;
    d.expect_accept = false;
    cs.push_back(std::move(d));
    Case e = make_case(domain, op, {random_f32({17}, rng), Tensor::scalar<float>(2.0f)}, {{17}}, "non-constant exponent refused");
    e.expect_accept = false;
    cs.push_back(std::move(e));
    return cs;
  }
  const std::vector<Shape> unary_shapes = {{1}, {3}, {17}, {255}, {1023}, {3, 255, 1023}, {2, 17, 5, 3}};
  if (op == "Softmax") {
    for (int opset : {11, 13})
      for (auto& [s, axis] : std::vector<std::pair<Shape, int64_t>>{{{1}, -1}, {{3, 17}, -1}, {{255, 1023}, -1}, {{2, 4, 16, 16}, -1},
                                                                     {{3, 17, 5}, 1}, {{17, 255, 3}, 0}, {{2, 1023, 17}, -2}}) {
        Case c = make_case(domain, op, {random_f32(s, rng, -8.0f, 8.0f)}, {s}, sh(s) + " axis " + std::to_string(axis) + " opset " + std::to_string(opset), opset);
        c.node->attrs["axis"] = ir::Attribute::of_int(axis);
        c.dtypes_unknown_at_load = opset == 11;
        cs.push_back(std::move(c));
      }
    return cs;
  }
  if (op == "LayerNormalization") {
    for (auto& [s, axis] : std::vector<std::pair<Shape, int64_t>>{{{1, 1}, -1}, {{3, 17}, -1}, {{2, 16, 255}, -1}, {{1023, 384}, -1},
                                                                   {{5, 3, 17}, 1}, {{4, 1023}, -1}}) {
      Shape ns(s.begin() + (axis < 0 ? static_cast<int64_t>(s.size()) + axis : axis), s.end());
      for (int variant = 0; variant < 3; ++variant) {  // with bias, without, with Mean/InvStdDev outputs
        std::vector<Tensor> in = {random_f32(s, rng, -3.0f, 5.0f), random_f32(ns, rng, 0.5f, 1.5f)};
        if (variant != 1) in.push_back(random_f32(ns, rng));
        Shape stat = s;
        for (size_t d = static_cast<size_t>(axis < 0 ? static_cast<int64_t>(s.size()) + axis : axis); d < s.size(); ++d) stat[d] = 1;
        std::vector<Shape> outs = {s};
        if (variant == 2) outs = {s, stat, stat};
        Case c = make_case(domain, op, in, outs, sh(s) + " axis " + std::to_string(axis) + " variant " + std::to_string(variant));
        c.node->attrs["axis"] = ir::Attribute::of_int(axis);
        c.node->attrs["epsilon"] = ir::Attribute::of_float(1e-5f);
        for (size_t i = 1; i < c.constant.size(); ++i) c.constant[i] = true;  // Scale, B are weights
        cs.push_back(std::move(c));
      }
    }
    // Scale broadcast from fewer elements: accepted, handed to the reference at run time.
    Case c = make_case(domain, op, {random_f32({3, 17}, rng), random_f32({1}, rng)}, {{3, 17}}, "scale broadcast");
    cs.push_back(std::move(c));
    return cs;
  }
  if (op == "GlobalAveragePool") {
    for (const Shape& s : std::vector<Shape>{{1, 1, 1, 1}, {1, 3, 17, 17}, {2, 255, 7, 7}, {1, 1023, 3, 5}, {1, 17, 255}})
      cs.push_back(make_case(domain, op, {random_f32(s, rng, -1.0f, 3.0f)}, {{s[0], s[1], 1, 1}}, sh(s)));
    cs.back().out_shapes = {{1, 17, 1}};
    return cs;
  }
  if (op == "MaxPool" || op == "AveragePool") {
    struct P { Shape s; int64_t k, stride, pad, dil; bool ceil, include_pad; };
    const P ps[] = {{{1, 3, 17, 17}, 3, 2, 1, 1, false, false},   // ResNet stem pool
                    {{2, 5, 33, 35}, 2, 2, 0, 1, false, false},   // 2x2 stride 2
                    {{1, 4, 17, 255}, 3, 1, 1, 1, false, true},   // 3x3 stride 1 same, count_include_pad
                    {{1, 3, 16, 17}, 3, 2, 0, 1, true, false},    // ceil_mode
                    {{1, 2, 19, 23}, 3, 1, 2, 2, false, false},   // dilated
                    {{1, 1, 1, 1}, 1, 1, 0, 1, false, false},
                    {{1, 17, 7, 7}, 7, 1, 0, 1, false, false},    // whole plane
                    {{1, 3, 113, 111}, 3, 2, 1, 1, false, false}, // ResNet pool at full width: vector + tail columns
                    {{1, 2, 35, 67}, 2, 1, 0, 1, false, false},   // stride 1, 66 output columns
                    {{1, 2, 33, 68}, 3, 2, 0, 1, true, false}};   // ceil_mode, last window past the edge
    for (const P& p : ps) {
      auto outd = [&](int64_t in) {
        const int64_t span = in + 2 * p.pad - p.dil * (p.k - 1) - 1;
        return (p.ceil ? (span + p.stride - 1) / p.stride : span / p.stride) + 1;
      };
      Shape o = {p.s[0], p.s[1], outd(p.s[2]), outd(p.s[3])};
      Case c = make_case(domain, op, {random_f32(p.s, rng)}, {o}, sh(p.s) + " k" + std::to_string(p.k) + " s" + std::to_string(p.stride) +
                                                                 " p" + std::to_string(p.pad) + " d" + std::to_string(p.dil));
      c.node->attrs["kernel_shape"] = ir::Attribute::of_ints({p.k, p.k});
      c.node->attrs["strides"] = ir::Attribute::of_ints({p.stride, p.stride});
      c.node->attrs["pads"] = ir::Attribute::of_ints({p.pad, p.pad, p.pad, p.pad});
      if (p.dil != 1) c.node->attrs["dilations"] = ir::Attribute::of_ints({p.dil, p.dil});
      if (p.ceil) c.node->attrs["ceil_mode"] = ir::Attribute::of_int(1);
      if (p.include_pad && op == "AveragePool") c.node->attrs["count_include_pad"] = ir::Attribute::of_int(1);
      if (op == "AveragePool" && p.dil != 1) continue;  // AveragePool dilations: opset 19
      cs.push_back(std::move(c));
    }
    Case one_d = make_case(domain, op, {random_f32({1, 3, 17}, rng)}, {{1, 3, 15}}, "1-D refused");
    one_d.node->attrs["kernel_shape"] = ir::Attribute::of_ints({3});
    one_d.expect_accept = false;
    cs.push_back(std::move(one_d));
    return cs;
  }
  if (op == "Transpose") {
    struct T { Shape s; std::vector<int64_t> perm; };
    // Small ones go through the reference inside the kernel; >= 32768 elements take the blocked paths.
    const T ts[] = {{{17, 255}, {1, 0}}, {{1023, 3}, {}}, {{2, 16, 4, 17}, {0, 2, 1, 3}}, {{1, 17, 33, 35}, {0, 2, 3, 1}},
                    {{1, 33, 35, 17}, {0, 3, 1, 2}}, {{3, 5, 7, 9, 2}, {4, 2, 0, 3, 1}}, {{1}, {0}}, {{255, 1, 1023}, {2, 1, 0}},
                    {{8, 128, 12, 64}, {0, 2, 3, 1}}, {{2, 17, 64, 33}, {0, 2, 1, 3}}, {{1, 64, 33, 35}, {0, 2, 3, 1}},
                    {{1, 33, 35, 64}, {0, 3, 1, 2}}, {{3, 5, 7, 9, 40}, {4, 2, 0, 3, 1}}, {{1023, 255}, {1, 0}}};
    for (const T& t : ts) {
      Shape o;
      std::vector<int64_t> perm = t.perm;
      if (perm.empty())
        for (int64_t k = static_cast<int64_t>(t.s.size()) - 1; k >= 0; --k) perm.push_back(k);
      for (int64_t p : perm) o.push_back(t.s[static_cast<size_t>(p)]);
      Case c = make_case(domain, op, {random_f32(t.s, rng)}, {o}, sh(t.s) + " perm " + std::to_string(perm.size()));
      if (!t.perm.empty()) c.node->attrs["perm"] = ir::Attribute::of_ints(t.perm);
      cs.push_back(std::move(c));
    }
    Tensor i64(DType::kI64, {3, 17, 1023});
    for (int64_t i = 0; i < i64.numel(); ++i) i64.data<int64_t>()[i] = i * 7919 - 50;
    Case i = make_case(domain, op, {i64}, {{1023, 17, 3}}, "int64");
    i.node->attrs["perm"] = ir::Attribute::of_ints({2, 1, 0});
    cs.push_back(std::move(i));
    Case u = make_case(domain, op, {i64}, {{1023, 17, 3}}, "int64 behind an unknown dtype");
    u.node->attrs["perm"] = ir::Attribute::of_ints({2, 1, 0});
    u.dtypes_unknown_at_load = true;
    cs.push_back(std::move(u));
    return cs;
  }
  // Unary ops.
  for (const Shape& s : unary_shapes) {
    const float range = op == "Exp" ? 90.0f : (op == "Sqrt" ? 0.0f : 6.0f);
    Tensor x = random_f32(s, rng, op == "Sqrt" ? 0.0f : -range, op == "Sqrt" ? 100.0f : range);
    if (x.numel() > 3) x.data<float>()[3] = NAN;
    std::vector<Tensor> in = {x};
    if (op == "Clip") {
      in.push_back(Tensor::scalar<float>(-0.5f));
      in.push_back(Tensor::scalar<float>(3.0f));
    }
    if (op == "FastGelu" && s.size() >= 1) in.push_back(random_f32({s.back()}, rng));
    Case c = make_case(domain, op, in, {s}, sh(s));
    if (op == "LeakyRelu") c.node->attrs["alpha"] = ir::Attribute::of_float(0.1f);
    if (op == "HardSigmoid") {
      c.node->attrs["alpha"] = ir::Attribute::of_float(0.3f);
      c.node->attrs["beta"] = ir::Attribute::of_float(0.4f);
    }
    cs.push_back(std::move(c));
  }
  if (op == "Gelu") {
    Case c = make_case(domain, op, {random_f32({1023}, rng, -6.0f, 6.0f)}, {{1023}}, "approximate=tanh", 20);
    c.node->attrs["approximate"] = ir::Attribute::of_string("tanh");
    cs.push_back(std::move(c));
  }
  if (op == "Clip") {  // opset 6 attributes, and omitted bounds
    Case c = make_case(domain, op, {random_f32({255}, rng, -2.0f, 2.0f)}, {{255}}, "opset 6 attributes", 6);
    c.node->attrs["min"] = ir::Attribute::of_float(0.0f);
    c.node->attrs["max"] = ir::Attribute::of_float(0.25f);
    cs.push_back(std::move(c));
    cs.push_back(make_case(domain, op, {random_f32({17}, rng), Tensor(), Tensor::scalar<float>(0.0f)}, {{17}}, "max only"));
  }
  // A fused activation attribute these kernels do not apply: refused.
  Case f = make_case(domain, op, {random_f32({3}, rng)}, {{3}}, "joule.activation refused");
  f.node->attrs["joule.activation"] = ir::Attribute::of_string("Relu");
  f.expect_accept = false;
  cs.push_back(std::move(f));
  return cs;
}

// The kernels under test: kernels/cpu/ fast kernels of these ops (GEMM/Conv kernels are the oracle's).
const std::set<std::string>& ops_under_test() {
  static const std::set<std::string> s = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
                                          "Erf", "Gelu", "FastGelu", "HardSwish", "HardSigmoid", "Clip", "Exp", "Sqrt", "Neg",
                                          "Softmax", "LayerNormalization", "GlobalAveragePool", "Transpose",
                                          "MaxPool", "AveragePool"};
  return s;
}

std::vector<const KernelDef*> fast_kernels() {
  std::vector<const KernelDef*> ks;
  for (const KernelDef* k : KernelRegistry::builtin().all())
    if (k->device == Device::kCpu && k->priority > 0 && ops_under_test().count(k->op_type)) ks.push_back(k);
  return ks;
}

}  // namespace

TEST(ElementwiseF32Simd, MatchesReferenceEveryIsaAndThreadCount) {
  const Isa cpu_isa = max_isa();
  std::vector<const KernelDef*> ks = fast_kernels();
  if (ks.empty()) GTEST_SKIP() << "no optimized elementwise kernels in this build (JOULE_SIMD=OFF)";
  ThreadPool pool1(1), pool3(3);
  int checked = 0;
  for (const KernelDef* k : ks) {
    if (k->isa > cpu_isa) {
      std::printf("[ simd ] SKIP %s: needs %s, this CPU (or JOULE_ISA) allows %s\n", k->name.c_str(), std::string(isa_name(k->isa)).c_str(),
                  std::string(isa_name(cpu_isa)).c_str());
      continue;
    }
    const KernelDef* ref = KernelRegistry::builtin().reference(k->domain, k->op_type);
    ASSERT_NE(ref, nullptr) << k->name;
    const double bound = bound_for(k->op_type);
    double worst = 0;
    int accepted = 0;
    for (Case& c : cases_for(k->domain, k->op_type)) {
      SCOPED_TRACE(k->name + ": " + c.what);
      const bool acc = !k->accepts || k->accepts(query_of(c));
      EXPECT_EQ(acc, c.expect_accept);
      if (!acc) continue;
      ++accepted;
      std::vector<Tensor> want, got1, got3;
      Status sr = run_kernel(*ref, c, nullptr, want);
      ASSERT_TRUE(sr.is_ok()) << sr.message();
      Status s1 = run_kernel(*k, c, &pool1, got1);
      ASSERT_TRUE(s1.is_ok()) << s1.message();
      ASSERT_TRUE(run_kernel(*k, c, &pool3, got3).is_ok());
      for (size_t o = 0; o < want.size(); ++o) {
        EXPECT_TRUE(bitwise_equal(got1[o], got3[o])) << "output " << o << ": 1 and 3 threads differ";
        if (bound == 0 || want[o].dtype() != DType::kF32) {
          EXPECT_TRUE(same_values(got1[o], want[o])) << "output " << o << " differs from the reference";
        } else {
          // Gelu: the reference's 1 + erf(x / sqrt 2) in float cancels in the negative tail (it is the less
          // accurate of the two there: see the ulp sweep below), so it is compared in absolute terms.
          const bool gelu = k->op_type == "Gelu" || k->op_type == "FastGelu";
          const double e = gelu ? abs_error(got1[o], want[o]) : rel_error(got1[o], want[o]);
          worst = std::max(worst, e);
          EXPECT_LE(e, bound) << "output " << o;
        }
      }
    }
    EXPECT_GT(accepted, 0) << k->name;
    if (bound == 0) std::printf("[ simd ] %s: %d cases, bitwise equal to the reference\n", k->name.c_str(), accepted);
    else std::printf("[ simd ] %s: %d cases, worst error %.2g (bound %.2g)\n", k->name.c_str(), accepted, worst, bound);
    ++checked;
  }
  std::printf("[ simd ] %d kernels checked at ISA <= %s\n", checked, std::string(isa_name(cpu_isa)).c_str());
}

// Error of the polynomial approximations in ulp of the float result, against double-precision libm,
// over a dense sweep (every 2^-10 step of [-20, 20] and 20000 log-spaced magnitudes in [1e-6, 80]).
TEST(ElementwiseF32Simd, ApproximationsWithinUlpBounds) {
  std::vector<float> xs;
  for (double x = -20; x <= 20; x += 1.0 / 1024) xs.push_back(static_cast<float>(x));
  for (int i = 0; i < 20000; ++i) {
    float m = static_cast<float>(std::pow(10.0, -6.0 + 7.9 * i / 20000.0));
    xs.push_back(m);
    xs.push_back(-m);
  }
  Tensor x(DType::kF32, {static_cast<int64_t>(xs.size())});
  std::memcpy(x.data<float>(), xs.data(), xs.size() * sizeof(float));
  struct F { const char* op; std::function<double(double)> f; double max_ulp; double abs_floor; };
  // abs_floor: errors are measured in ulp of max(|f(x)|, abs_floor) (Gelu's tail and erf near 0 are tiny).
  const F fs[] = {
      {"Exp", [](double v) { return std::exp(v); }, 3.0, 1e-30},
      {"Tanh", [](double v) { return std::tanh(v); }, 3.0, 1e-30},
      {"Erf", [](double v) { return std::erf(v); }, 3.0, 1e-30},
      {"Sigmoid", [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, 3.0, 1e-30},
      {"Gelu", [](double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); }, 12.0, 1e-30},  // 1 + erf cancels for x in (-1.5, -1)
  };
  const Isa cpu_isa = max_isa();
  int checked = 0;
  for (const KernelDef* k : fast_kernels()) {
    for (const F& f : fs) {
      if (k->op_type != f.op || k->domain != "" || k->isa > cpu_isa) continue;
      Case c = make_case("", f.op, {x}, {x.shape()}, "sweep", 20);
      std::vector<Tensor> got;
      ASSERT_TRUE(run_kernel(*k, c, nullptr, got).is_ok());
      double worst = 0, worst_at = 0;
      for (size_t i = 0; i < xs.size(); ++i) {
        const double want = f.f(xs[i]);
        if (std::fabs(want) > 3.4e38) continue;  // overflow: checked as inf by the reference test
        const float scale = static_cast<float>(std::max(std::fabs(want), f.abs_floor));
        const double ulp = std::nextafter(scale, INFINITY) - scale;
        const double e = std::fabs(got[0].data<float>()[i] - want) / ulp;
        if (e > worst) worst = e, worst_at = xs[i];
      }
      std::printf("[ simd ] %s: max error %.2f ulp (at x = %.6g)\n", k->name.c_str(), worst, worst_at);
      EXPECT_LE(worst, f.max_ulp) << k->name << " at x = " << worst_at;
      ++checked;
    }
  }
  if (checked == 0) GTEST_SKIP() << "no optimized kernels for these ops runnable here (JOULE_SIMD=OFF or JOULE_ISA=scalar)";
}
