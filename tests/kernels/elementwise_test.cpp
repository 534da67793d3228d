// Elementwise and activation ops run through a Session on seeded random data with odd shapes and
// broadcasting across ranks, checked against plain double-precision formulas written here; plus
// the errors that bad dtypes, shapes and attributes must give.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "joule/session.h"
#include "runtime/ir/graph.h"
#include "runtime/ir/dtype_dispatch.h"

using namespace joule;

namespace {

struct OpSpec {
  std::string op;
  std::vector<Tensor> inputs;  // undefined tensor = omitted optional input
  std::map<std::string, ir::Attribute> attrs;
  int opset = 17;
  int num_outputs = 1;
  std::string domain;
};

ir::Attribute float_attr(float f) { return ir::Attribute::of_float(f); }
ir::Attribute int_attr(int64_t i) { return ir::Attribute::of_int(i); }
ir::Attribute string_attr(std::string s) { return ir::Attribute::of_string(std::move(s)); }

// Builds a one-node graph whose inputs are all graph inputs of known shape, then runs it.
Status run_op(const OpSpec& spec, std::vector<Tensor>& out) {
  ir::Graph g;
  g.opset_imports[""] = spec.opset;
  if (!spec.domain.empty()) g.opset_imports[spec.domain] = 1;
  std::vector<ir::Value*> ins;
  std::vector<std::pair<std::string, Tensor>> feed;
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    if (!spec.inputs[i].defined()) {
      ins.push_back(nullptr);
      continue;
    }
    ir::Value* v = g.add_value("in" + std::to_string(i));
    v->desc = ir::TensorDesc::known(spec.inputs[i].dtype(), spec.inputs[i].shape());
    g.inputs.push_back(v);
    ins.push_back(v);
    feed.emplace_back(v->name, spec.inputs[i]);
  }
  std::vector<ir::Value*> outs;
  for (int i = 0; i < spec.num_outputs; ++i) outs.push_back(g.add_value("out" + std::to_string(i)));
  ir::Node* n = g.add_node(spec.op, ins, outs, "node", spec.domain);
  n->attrs = spec.attrs;
  g.outputs = outs;
  std::unique_ptr<Session> s;
  JOULE_RETURN_IF_ERROR(Session::create(std::move(g), {}, s));
  return s->run(feed, out);
}

Tensor run_ok(const OpSpec& spec) {
  std::vector<Tensor> out;
  Status st = run_op(spec, out);
  EXPECT_TRUE(st.is_ok()) << spec.op << ": " << st.message();
  return st.is_ok() ? out[0] : Tensor();
}

// Random tensor of any numeric dtype with values uniform in [lo, hi] (integers: rounded).
Tensor random_tensor(DType dt, Shape shape, uint32_t seed, double lo = -3, double hi = 3) {
  Tensor t(dt, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  dispatch_all(dt, [&]<class T>() {
    for (int64_t i = 0; i < t.numel(); ++i) {
      double v = d(rng);
      if constexpr (std::is_same_v<T, bool>) t.data<T>()[i] = v > (lo + hi) / 2;
      else if constexpr (std::is_integral_v<T>) t.data<T>()[i] = static_cast<T>(std::llround(v));
      else t.data<T>()[i] = from_compute<T>(v);
    }
  });
  return t;
}

double at(const Tensor& t, int64_t i) {
  double v = 0;
  dispatch_all(t.dtype(), [&]<class T>() { v = static_cast<double>(to_compute(t.data<T>()[i])); });
  return v;
}

// Offset into `in` (right-aligned, numpy broadcast) of output element `i` of shape `out`.
int64_t bcast_offset(const Shape& in, const Shape& out, int64_t i) {
  int64_t off = 0, stride = 1;
  for (size_t d = out.size(); d-- > 0;) {
    int64_t coord = i % out[d];
    i /= out[d];
    size_t k = d + in.size();
    if (k < out.size()) continue;  // dim absent in `in`
    int64_t dim = in[k - out.size()];
    if (dim != 1) off += coord * stride;
    stride *= dim;
  }
  return off;
}

Shape bshape(const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape s(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1, db = i + b.size() >= r ? b[i + b.size() - r] : 1;
    s[i] = std::max(da, db);
  }
  return s;
}

void expect_close(const Tensor& got, const std::vector<double>& want, const Shape& shape, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(got.shape(), shape) << what;
  ASSERT_EQ(static_cast<size_t>(got.numel()), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double g = at(got, static_cast<int64_t>(i)), w = want[i];
    bool ok = std::isnan(w) ? std::isnan(g) : std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!ok && bad++ < 3) ADD_FAILURE() << what << " element " << i << ": got " << g << ", want " << w;
  }
}

const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {{1023}, {1023}},   {{3, 17}, {17}},          {{255, 1}, {1, 3}},  {{2, 3, 17}, {3, 1}},
    {{1}, {5, 1, 17}},  {{}, {3, 17}},            {{17, 1, 3}, {1, 255, 1}}, {{2, 1, 3, 1, 5}, {4, 1, 1, 1}},
};

using Binary = std::function<double(double, double)>;

void check_binary(const std::string& op, DType dt, const Binary& f, double lo, double hi, double rtol,
                  std::map<std::string, ir::Attribute> attrs = {}) {
  uint32_t seed = 11;
  for (auto& [sa, sb] : kBroadcastPairs) {
    Tensor a = random_tensor(dt, sa, seed++, lo, hi), b = random_tensor(dt, sb, seed++, lo, hi);
    Shape os = bshape(sa, sb);
    std::vector<double> want(static_cast<size_t>(shape_numel(os)));
    for (size_t i = 0; i < want.size(); ++i) {
      int64_t k = static_cast<int64_t>(i);
      want[i] = f(at(a, bcast_offset(sa, os, k)), at(b, bcast_offset(sb, os, k)));
    }
    Tensor y = run_ok({op, {a, b}, attrs});
    if (!y.defined()) return;
    expect_close(y, want, os, rtol, rtol, op + " " + std::string(dtype_name(dt)) + " " + shape_to_string(sa) + " with " +
                                              shape_to_string(sb));
  }
}

}  // namespace

TEST(Elementwise, FloatBinaryOpsBroadcastAcrossRanks) {
  for (DType dt : {DType::kF32, DType::kF64}) {
    check_binary("Add", dt, [](double x, double y) { return x + y; }, -3, 3, 1e-6);
    check_binary("Sub", dt, [](double x, double y) { return x - y; }, -3, 3, 1e-6);
    check_binary("Mul", dt, [](double x, double y) { return x * y; }, -3, 3, 1e-6);
    check_binary("Div", dt, [](double x, double y) { return x / y; }, 0.5, 3, 1e-6);
    check_binary("Pow", dt, [](double x, double y) { return std::pow(x, y); }, 0.5, 3, 1e-5);
    check_binary("Max", dt, [](double x, double y) { return std::max(x, y); }, -3, 3, 0);
    check_binary("Min", dt, [](double x, double y) { return std::min(x, y); }, -3, 3, 0);
    check_binary("Mod", dt, [](double x, double y) { return std::fmod(x, y); }, 0.5, 3, 1e-5, {{"fmod", int_attr(1)}});
  }
  // float16 computes in float and rounds once.
  check_binary("Add", DType::kF16, [](double x, double y) { return x + y; }, -3, 3, 2e-3);
  check_binary("Mul", DType::kF16, [](double x, double y) { return x * y; }, -3, 3, 2e-3);
}

TEST(Elementwise, IntegerArithmeticWrapsAndNeverTraps) {
  // Reference: exact in int64, wrapped to the storage type.
  auto wrap8 = [](double v) { return static_cast<double>(static_cast<int8_t>(static_cast<int64_t>(v))); };
  auto wrapu8 = [](double v) { return static_cast<double>(static_cast<uint8_t>(static_cast<int64_t>(v))); };
  check_binary("Add", DType::kI8, [&](double x, double y) { return wrap8(x + y); }, -128, 127, 0);
  check_binary("Mul", DType::kI8, [&](double x, double y) { return wrap8(x * y); }, -128, 127, 0);
  check_binary("Sub", DType::kU8, [&](double x, double y) { return wrapu8(x - y); }, 0, 255, 0);
  check_binary("Add", DType::kI32, [](double x, double y) { return x + y; }, -1e6, 1e6, 0);
  // Truncating division, x / 0 = 0; values around 0 make zero divisors common.
  auto div = [](double x, double y) { return y == 0 ? 0.0 : std::trunc(x / y); };
  check_binary("Div", DType::kI32, div, -5, 5, 0);
  check_binary("Div", DType::kU8, div, 0, 5, 0);
  check_binary("Div", DType::kI64, div, -50, 50, 0);
  // Mod fmod=0: sign of the divisor; fmod=1: sign of the dividend.
  auto pymod = [](double x, double y) {
    if (y == 0) return 0.0;
    double r = std::fmod(x, y);
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
  };
  check_binary("Mod", DType::kI32, pymod, -20, 20, 0);
  check_binary("Mod", DType::kI16, [](double x, double y) { return y == 0 ? 0.0 : std::fmod(x, y); }, -20, 20, 0,
               {{"fmod", int_attr(1)}});
  // INT_MIN / -1 and INT_MIN % -1 must not raise SIGFPE.
  Tensor a = Tensor::from_vector<int32_t>({2}, {INT32_MIN, 7}), b = Tensor::from_vector<int32_t>({2}, {-1, 0});
  Tensor q = run_ok({"Div", {a, b}});
  EXPECT_EQ(q.data<int32_t>()[0], INT32_MIN);
  EXPECT_EQ(q.data<int32_t>()[1], 0);
  Tensor m = run_ok({"Mod", {a, b}});
  EXPECT_EQ(m.data<int32_t>()[0], 0);
}

TEST(Elementwise, PowMixesBaseAndExponentTypes) {
  Tensor x = random_tensor(DType::kF32, {3, 17}, 5, 0.5, 2);
  Tensor e = random_tensor(DType::kI64, {17}, 6, -3, 3);
  Tensor y = run_ok({"Pow", {x, e}});
  std::vector<double> want(51);
  for (int64_t i = 0; i < 51; ++i) want[static_cast<size_t>(i)] = std::pow(at(x, i), at(e, i % 17));
  expect_close(y, want, {3, 17}, 1e-5, 1e-6, "Pow float^int64");
  Tensor xi = random_tensor(DType::kI32, {255}, 7, -4, 4), ei = random_tensor(DType::kI32, {255}, 8, 0, 5);
  Tensor yi = run_ok({"Pow", {xi, ei}});
  for (int64_t i = 0; i < 255; ++i) want.resize(255), want[static_cast<size_t>(i)] = std::pow(at(xi, i), at(ei, i));
  expect_close(yi, want, {255}, 0, 0, "Pow int32^int32");
}

TEST(Elementwise, UnaryMathAndActivationsMatchDoubleFormulas) {
  struct U {
    const char* op;
    std::function<double(double)> f;
    double lo, hi;
  };
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  const double selu_a = 1.67326319217681884765625, selu_g = 1.05070102214813232421875;
  // Attribute defaults are float32 values (0.01f, 0.2f), as ONNX stores them.
  std::vector<U> cases = {
      {"Sqrt", [](double x) { return std::sqrt(x); }, 0, 9},
      {"Exp", [](double x) { return std::exp(x); }, -5, 5},
      {"Log", [](double x) { return std::log(x); }, 0.01, 9},
      {"Neg", [](double x) { return -x; }, -3, 3},
      {"Abs", [](double x) { return std::fabs(x); }, -3, 3},
      {"Reciprocal", [](double x) { return 1 / x; }, 0.5, 3},
      {"Floor", [](double x) { return std::floor(x); }, -3, 3},
      {"Ceil", [](double x) { return std::ceil(x); }, -3, 3},
      {"Sign", [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }, -3, 3},
      {"Erf", [](double x) { return std::erf(x); }, -3, 3},
      {"Sin", [](double x) { return std::sin(x); }, -3, 3},
      {"Cos", [](double x) { return std::cos(x); }, -3, 3},
      {"Tan", [](double x) { return std::tan(x); }, -1.2, 1.2},
      {"Asin", [](double x) { return std::asin(x); }, -0.99, 0.99},
      {"Acos", [](double x) { return std::acos(x); }, -0.99, 0.99},
      {"Atan", [](double x) { return std::atan(x); }, -3, 3},
      {"Sinh", [](double x) { return std::sinh(x); }, -3, 3},
      {"Cosh", [](double x) { return std::cosh(x); }, -3, 3},
      {"Asinh", [](double x) { return std::asinh(x); }, -3, 3},
      {"Acosh", [](double x) { return std::acosh(x); }, 1.01, 5},
      {"Atanh", [](double x) { return std::atanh(x); }, -0.99, 0.99},
      {"Relu", [](double x) { return std::max(x, 0.0); }, -3, 3},
      {"Sigmoid", sig, -30, 30},
      {"Tanh", [](double x) { return std::tanh(x); }, -5, 5},
      {"LeakyRelu", [](double x) { return x >= 0 ? x : double(0.01f) * x; }, -3, 3},
      {"HardSigmoid", [](double x) { return std::clamp(double(0.2f) * x + 0.5, 0.0, 1.0); }, -4, 4},
      {"HardSwish", [](double x) { return x * std::clamp(x / 6 + 0.5, 0.0, 1.0); }, -4, 4},
      {"Elu", [](double x) { return x >= 0 ? x : std::exp(x) - 1; }, -3, 3},
      {"Selu", [&](double x) { return selu_g * (x > 0 ? x : selu_a * (std::exp(x) - 1)); }, -3, 3},
      {"Softplus", softplus, -20, 20},
      {"Softsign", [](double x) { return x / (1 + std::fabs(x)); }, -3, 3},
      {"ThresholdedRelu", [](double x) { return x > 1 ? x : 0.0; }, -3, 3},
      {"Celu", [](double x) { return std::max(0.0, x) + std::min(0.0, std::exp(x) - 1); }, -3, 3},
      {"Mish", [&](double x) { return x * std::tanh(softplus(x)); }, -5, 5},
      {"Gelu", [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, -4, 4},
      {"Shrink", [](double x) { return x < -0.5 ? x : (x > 0.5 ? x : 0.0); }, -3, 3},
  };
  uint32_t seed = 100;
  for (const U& c : cases) {
    for (int64_t n : {1, 3, 17, 255, 1023}) {
      for (DType dt : {DType::kF32, DType::kF64, DType::kF16}) {
        if (dt == DType::kF16 && n != 255) continue;
        Tensor x = random_tensor(dt, {n}, seed++, c.lo, c.hi);
        std::vector<double> want(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) want[static_cast<size_t>(i)] = c.f(at(x, i));
        double tol = dt == DType::kF16 ? 2e-3 : (dt == DType::kF32 ? 2e-6 : 1e-12);
        expect_close(run_ok({c.op, {x}, {}, 18}), want, {n}, tol, tol, std::string(c.op) + " " + std::string(dtype_name(dt)));
      }
    }
  }
}

TEST(Elementwise, RoundIsHalfToEven) {
  Tensor x = Tensor::from_vector<float>({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, -2.6f});
  expect_close(run_ok({"Round", {x}}), {0, 2, 2, -0, -2, -2, 2, -3}, {8}, 0, 0, "Round");
}

TEST(Elementwise, ComparisonsLogicAndWhereBroadcast) {
  uint32_t seed = 200;
  for (auto& [sa, sb] : kBroadcastPairs) {
    Tensor a = random_tensor(DType::kI32, sa, seed++, -2, 2), b = random_tensor(DType::kI32, sb, seed++, -2, 2);
    Tensor p = random_tensor(DType::kBool, sa, seed++), q = random_tensor(DType::kBool, sb, seed++);
    Shape os = bshape(sa, sb);
    std::map<std::string, std::function<bool(double, double)>> cmp = {
        {"Equal", [](double x, double y) { return x == y; }},   {"Less", [](double x, double y) { return x < y; }},
        {"Greater", [](double x, double y) { return x > y; }},  {"LessOrEqual", [](double x, double y) { return x <= y; }},
        {"GreaterOrEqual", [](double x, double y) { return x >= y; }}, {"And", [](double x, double y) { return x && y; }},
        {"Or", [](double x, double y) { return x || y; }},      {"Xor", [](double x, double y) { return (x != 0) != (y != 0); }},
    };
    for (auto& [op, f] : cmp) {
      bool logic = op == "And" || op == "Or" || op == "Xor";
      const Tensor &l = logic ? p : a, &r = logic ? q : b;
      std::vector<double> want(static_cast<size_t>(shape_numel(os)));
      for (size_t i = 0; i < want.size(); ++i) {
        int64_t k = static_cast<int64_t>(i);
        want[i] = f(at(l, bcast_offset(sa, os, k)), at(r, bcast_offset(sb, os, k)));
      }
      Tensor y = run_ok({op, {l, r}});
      ASSERT_EQ(y.dtype(), DType::kBool);
      expect_close(y, want, os, 0, 0, op + " " + shape_to_string(sa));
    }
    // Where(cond: sa, x: sb, y: [17]-ish third shape) - three-way broadcast.
    Shape sc = {os.empty() ? 1 : os.back()};
    Tensor x = random_tensor(DType::kF32, sb, seed++), z = random_tensor(DType::kF32, sc, seed++);
    Shape ws = bshape(os, sc);
    std::vector<double> want(static_cast<size_t>(shape_numel(ws)));
    for (size_t i = 0; i < want.size(); ++i) {
      int64_t k = static_cast<int64_t>(i);
      want[i] = at(p, bcast_offset(sa, ws, k)) != 0 ? at(x, bcast_offset(sb, ws, k)) : at(z, bcast_offset(sc, ws, k));
    }
    expect_close(run_ok({"Where", {p, x, z}}), want, ws, 0, 0, "Where");
  }
}

TEST(Elementwise, VariadicOpsBroadcastAllInputs) {
  Tensor a = random_tensor(DType::kF32, {3, 1, 17}, 1), b = random_tensor(DType::kF32, {5, 1}, 2),
         c = random_tensor(DType::kF32, {17}, 3);
  Shape os = {3, 5, 17};
  std::vector<double> sum(255), mx(255), mn(255);
  for (int64_t i = 0; i < 255; ++i) {
    double x = at(a, bcast_offset(a.shape(), os, i)), y = at(b, bcast_offset(b.shape(), os, i)),
           z = at(c, bcast_offset(c.shape(), os, i));
    sum[static_cast<size_t>(i)] = x + y + z;
    mx[static_cast<size_t>(i)] = std::max({x, y, z});
    mn[static_cast<size_t>(i)] = std::min({x, y, z});
  }
  expect_close(run_ok({"Sum", {a, b, c}}), sum, os, 1e-6, 1e-6, "Sum");
  std::vector<double> mean = sum;
  for (double& v : mean) v /= 3;
  expect_close(run_ok({"Mean", {a, b, c}}), mean, os, 1e-6, 1e-6, "Mean");
  expect_close(run_ok({"Max", {a, b, c}}), mx, os, 0, 0, "Max");
  expect_close(run_ok({"Min", {a, b, c}}), mn, os, 0, 0, "Min");
  std::vector<double> one(17);
  for (int64_t i = 0; i < 17; ++i) one[static_cast<size_t>(i)] = at(c, i);
  expect_close(run_ok({"Max", {c}}), one, {17}, 0, 0, "Max of one input");
}

TEST(Elementwise, CastConvertsBetweenTypes) {
  Tensor x = random_tensor(DType::kF32, {255}, 9, -300, 300);
  // float -> int32 truncates; -> uint8 saturates; -> bool is != 0; -> float16 rounds.
  Tensor i32 = run_ok({"Cast", {x}, {{"to", int_attr(6)}}});
  Tensor u8 = run_ok({"Cast", {x}, {{"to", int_attr(2)}}});
  Tensor bl = run_ok({"Cast", {x}, {{"to", int_attr(9)}}});
  Tensor f16 = run_ok({"Cast", {x}, {{"to", int_attr(10)}}});
  Tensor f64 = run_ok({"CastLike", {x, Tensor::scalar<double>(0.0)}});
  ASSERT_EQ(i32.dtype(), DType::kI32);
  ASSERT_EQ(f64.dtype(), DType::kF64);
  for (int64_t i = 0; i < 255; ++i) {
    double v = at(x, i);
    EXPECT_EQ(i32.data<int32_t>()[i], static_cast<int32_t>(std::trunc(v)));
    EXPECT_EQ(u8.data<uint8_t>()[i], static_cast<uint8_t>(std::clamp(std::trunc(v), 0.0, 255.0)));
    EXPECT_EQ(bl.data<bool>()[i], v != 0);
    EXPECT_NEAR(at(f16, i), v, std::fabs(v) * 1e-3);
    EXPECT_EQ(at(f64, i), v);
  }
  // int64 -> int8 wraps like two's complement; bool -> float is 0/1.
  Tensor big = Tensor::from_vector<int64_t>({3}, {300, -129, 5});
  Tensor i8 = run_ok({"Cast", {big}, {{"to", int_attr(3)}}});
  EXPECT_EQ(i8.data<int8_t>()[0], 44);
  EXPECT_EQ(i8.data<int8_t>()[1], 127);
  Tensor b = Tensor::from_vector<bool>({2}, {true, false});
  Tensor bf = run_ok({"Cast", {b}, {{"to", int_attr(1)}}});
  EXPECT_EQ(bf.data<float>()[0], 1.0f);
  EXPECT_EQ(bf.data<float>()[1], 0.0f);
}

TEST(Activation, ClipAttributesInputsAndIntegers) {
  Tensor x = random_tensor(DType::kF32, {17, 3}, 21);
  std::vector<double> want(51);
  for (int64_t i = 0; i < 51; ++i) want[static_cast<size_t>(i)] = std::clamp(at(x, i), -1.0, 0.5);
  expect_close(run_ok({"Clip", {x}, {{"min", float_attr(-1)}, {"max", float_attr(0.5f)}}, 9}), want, {17, 3}, 0, 0,
               "Clip opset 9");
  expect_close(run_ok({"Clip", {x, Tensor::scalar<float>(-1), Tensor::scalar<float>(0.5f)}, {}, 13}), want, {17, 3}, 0, 0,
               "Clip opset 13");
  Tensor xi = random_tensor(DType::kI8, {255}, 22, -128, 127);
  for (int64_t i = 0; i < 255; ++i) want.resize(255), want[static_cast<size_t>(i)] = std::min(at(xi, i), 10.0);
  expect_close(run_ok({"Clip", {xi, Tensor(), Tensor::scalar<int8_t>(10)}, {}, 13}), want, {255}, 0, 0, "Clip int8 max only");
}

TEST(Activation, PReluBroadcastsSlope) {
  Tensor x = random_tensor(DType::kF32, {2, 3, 4, 5}, 31);
  for (Shape ss : {Shape{1}, Shape{5}, Shape{3, 1, 1}, Shape{4, 5}}) {
    Tensor s = random_tensor(DType::kF32, ss, 32, 0, 1);
    std::vector<double> want(120);
    for (int64_t i = 0; i < 120; ++i) {
      double v = at(x, i);
      want[static_cast<size_t>(i)] = v < 0 ? v * at(s, bcast_offset(ss, x.shape(), i)) : v;
    }
    expect_close(run_ok({"PRelu", {x, s}}), want, x.shape(), 1e-6, 1e-7, "PRelu slope " + shape_to_string(ss));
  }
  // Per-channel 1-D slope (opset 6 era models): slope [C] applies along axis 1.
  Tensor x3 = random_tensor(DType::kF32, {2, 3, 4}, 33), s3 = random_tensor(DType::kF32, {3}, 34, 0, 1);
  std::vector<double> want(24);
  for (int64_t i = 0; i < 24; ++i) {
    double v = at(x3, i);
    want[static_cast<size_t>(i)] = v < 0 ? v * at(s3, (i / 4) % 3) : v;
  }
  expect_close(run_ok({"PRelu", {x3, s3}}), want, {2, 3, 4}, 1e-6, 1e-7, "PRelu per-channel");
}

TEST(Activation, DropoutGeluFastGeluIsInf) {
  Tensor x = random_tensor(DType::kF32, {3, 17}, 41);
  std::vector<Tensor> out;
  ASSERT_TRUE(run_op({"Dropout", {x, Tensor::scalar<float>(0.3f), Tensor::scalar<bool>(false)}, {}, 13, 2}, out).is_ok());
  for (int64_t i = 0; i < 51; ++i) {
    EXPECT_EQ(out[0].data<float>()[i], x.data<float>()[i]);
    EXPECT_TRUE(out[1].data<bool>()[i]);
  }
  std::vector<double> gt(51), fg(51);
  Tensor bias = random_tensor(DType::kF32, {17}, 42);
  auto gelu_tanh = [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); };
  for (int64_t i = 0; i < 51; ++i) {
    gt[static_cast<size_t>(i)] = gelu_tanh(at(x, i));
    fg[static_cast<size_t>(i)] = gelu_tanh(at(x, i) + at(bias, i % 17));
  }
  expect_close(run_ok({"Gelu", {x}, {{"approximate", string_attr("tanh")}}, 20}), gt, {3, 17}, 1e-5, 1e-6, "Gelu tanh");
  expect_close(run_ok({"FastGelu", {x, bias}, {}, 17, 1, "com.microsoft"}), fg, {3, 17}, 1e-5, 1e-6, "FastGelu");
  Tensor v = Tensor::from_vector<float>({4}, {INFINITY, -INFINITY, NAN, 1.0f});
  Tensor pos = run_ok({"IsInf", {v}, {{"detect_negative", int_attr(0)}}});
  Tensor nan = run_ok({"IsNaN", {v}});
  EXPECT_EQ(std::vector<bool>(pos.data<bool>(), pos.data<bool>() + 4), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(std::vector<bool>(nan.data<bool>(), nan.data<bool>() + 4), (std::vector<bool>{false, false, true, false}));
}

// Each case must fail cleanly (no crash) at Session::create, with a message naming the problem.
TEST(Elementwise, BadModelsGiveCleanErrors) {
  struct Bad {
    OpSpec spec;
    std::string needle;
  };
  Tensor f34 = random_tensor(DType::kF32, {3, 4}, 1), f5 = random_tensor(DType::kF32, {5}, 2);
  Tensor i34 = random_tensor(DType::kI32, {3, 4}, 3), b34 = random_tensor(DType::kBool, {3, 4}, 4);
  std::vector<Bad> cases = {
      {{"Add", {f34, f5}}, "cannot be broadcast"},
      {{"Add", {f34, i34}}, "int32"},
      {{"Mul", {b34, b34}}, "bool"},
      {{"Where", {f34, f34, f34}}, "bool"},
      {{"Where", {b34, f34, i34}}, "must match"},
      {{"Sum", {f34, f34, f5}}, "cannot be broadcast"},
      {{"Less", {f34, i34}}, "int32"},
      {{"And", {f34, f34}}, "bool"},
      {{"Sqrt", {i34}}, "floating-point"},
      {{"Mod", {f34, f34}}, "fmod"},
      {{"Gelu", {f34}, {{"approximate", string_attr("fast")}}, 20}, "approximate"},
      {{"Cast", {f34}, {{"to", int_attr(8)}}}, "string"},
      {{"PRelu", {f34, f5}}, "slope"},
      {{"Clip", {f34, Tensor::scalar<double>(0)}, {}, 13}, "must match"},
      {{"Clip", {f34, f5}, {}, 13}, "scalar"},
  };
  for (const Bad& c : cases) {
    std::vector<Tensor> out;
    Status st = run_op(c.spec, out);
    EXPECT_FALSE(st.is_ok()) << c.spec.op << " should fail";
    EXPECT_NE(st.message().find(c.needle), std::string::npos) << c.spec.op << ": " << st.message();
  }
}

// With symbolic input shapes the mismatch is only visible at run time: Session::run must fail cleanly.
TEST(Elementwise, RunTimeShapeMismatchGivesCleanError) {
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* a = g.add_value("a");
  ir::Value* b = g.add_value("b");
  a->desc = {DType::kF32, {-1}, true};
  b->desc = {DType::kF32, {-1}, true};
  g.inputs = {a, b};
  ir::Value* y = g.add_value("y");
  g.add_node("Add", {a, b}, {y}, "add");
  g.outputs = {y};
  std::unique_ptr<Session> s;
  ASSERT_TRUE(Session::create(std::move(g), {}, s).is_ok());
  std::vector<Tensor> out;
  Status st = s->run({{"a", random_tensor(DType::kF32, {3}, 1)}, {"b", random_tensor(DType::kF32, {17}, 2)}}, out);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("cannot be broadcast"), std::string::npos) << st.message();
  ASSERT_TRUE(s->run({{"a", random_tensor(DType::kF32, {17}, 1)}, {"b", random_tensor(DType::kF32, {1}, 2)}}, out).is_ok());
  EXPECT_EQ(out[0].shape(), (Shape{17}));
}
