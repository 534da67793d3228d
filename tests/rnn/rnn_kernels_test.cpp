// LSTM / GRU / RNN: the batched-gate float32 kernels against the reference kernel on seeded random
// data with odd sizes, the activation functions against formulas written here, sequence_lens
// semantics, dtypes, and clean errors for bad models / inputs.
#include <cstdio>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "joule/session.h"
#include "kernels/kernel_registry.h"
#include "runtime/ir/graph.h"
#include "runtime/ops/op_registry.h"

using namespace joule;

namespace {

ir::Attribute attr_s(const std::string& v) { return ir::Attribute::of_string(v); }
ir::Attribute attr_i(int64_t v) { return ir::Attribute::of_int(v); }
ir::Attribute attr_f(float v) { return ir::Attribute::of_float(v); }
ir::Attribute attr_fs(std::vector<float> v) { return ir::Attribute::of_floats(std::move(v)); }
ir::Attribute attr_ss(std::vector<std::string> v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::kStrings;
  a.strings = std::move(v);
  return a;
}
using Attrs = std::map<std::string, ir::Attribute>;

Tensor rand_t(Shape s, std::mt19937& rng, float lo = -1, float hi = 1) {
  Tensor t(DType::kF32, std::move(s));
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// Builds a one-node graph; inputs listed in `constants` become initializers (so prepare packs them).
Status run_session(const std::string& op, const std::vector<Tensor>& inputs, const Attrs& attrs, size_t nout,
                   std::vector<Tensor>& out, std::vector<int> constants = {}, int opset = 14,
                   std::string* kernel = nullptr, const std::string& isa = "") {
  ir::Graph g;
  g.opset_imports[""] = opset;
  std::vector<ir::Value*> ins;
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      ins.push_back(nullptr);
      continue;
    }
    std::string name = "in" + std::to_string(i);
    if (std::find(constants.begin(), constants.end(), static_cast<int>(i)) != constants.end()) {
      ins.push_back(g.add_constant(name, inputs[i]));
      continue;
    }
    ir::Value* v = g.add_value(name);
    v->desc = ir::TensorDesc::known(inputs[i].dtype(), inputs[i].shape());
    g.inputs.push_back(v);
    ins.push_back(v);
    feeds.emplace_back(name, inputs[i]);
  }
  std::vector<ir::Value*> outs;
  for (size_t i = 0; i < nout; ++i) outs.push_back(g.add_value("out" + std::to_string(i)));
  ir::Node* n = g.add_node(op, ins, outs, "rnn");
  n->attrs = attrs;
  for (auto* o : outs) g.outputs.push_back(o);
  std::unique_ptr<Session> sess;
  SessionOptions opts;
  opts.threads = 1;
  opts.isa = isa;
  JOULE_RETURN_IF_ERROR(Session::create(std::move(g), opts, sess));
  if (kernel)
    for (auto& [label, name] : sess->stats().kernel_for_node) *kernel = name;
  return sess->run(feeds, out);
}

// Calls the reference kernel directly (shapes from the op's inference).
Status run_reference(const std::string& op, const std::vector<Tensor>& inputs, const Attrs& attrs, size_t nout,
                     std::vector<Tensor>& out, int opset = 14) {
  ir::Graph g;
  std::vector<ir::Value*> ins;
  std::vector<ir::TensorDesc> descs;
  std::vector<const Tensor*> values, kin;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ins.push_back(inputs[i].defined() ? g.add_value("in" + std::to_string(i)) : nullptr);
    descs.push_back(inputs[i].defined() ? ir::TensorDesc::known(inputs[i].dtype(), inputs[i].shape()) : ir::TensorDesc{});
    values.push_back(inputs[i].defined() ? &inputs[i] : nullptr);
  }
  std::vector<ir::Value*> outs;
  for (size_t i = 0; i < nout; ++i) outs.push_back(g.add_value("out" + std::to_string(i)));
  ir::Node* n = g.add_node(op, ins, outs, "rnn");
  n->attrs = attrs;
  n->opset = opset;
  const ops::OpDef* def = ops::OpRegistry::builtin().find("", op);
  ops::InferContext ictx(*n, descs, values, nout);
  JOULE_RETURN_IF_ERROR(def->infer(ictx));
  out.clear();
  for (size_t i = 0; i < nout; ++i) out.emplace_back(ictx.output(i).dtype, ictx.output(i).shape);
  kernels::KernelContext kctx{*n, values, {}};
  for (auto& t : out) kctx.outputs.push_back(&t);
  return kernels::KernelRegistry::builtin().reference("", op)->run(kctx);
}

void expect_close(const Tensor& a, const Tensor& b, double rel, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.value_as_double(i), y = b.value_as_double(i);
    ASSERT_LE(std::abs(x - y), rel * std::max(1.0, std::abs(y))) << what << " element " << i;
  }
}

struct Case {
  std::string op;
  int64_t H, I, S, N;
  std::string dir;
  bool lens, layout1, extras;  // extras: clip, peepholes / linear_before_reset, initial state
};

std::string describe(const Case& c) {
  return c.op + " H=" + std::to_string(c.H) + " I=" + std::to_string(c.I) + " S=" + std::to_string(c.S) +
         " N=" + std::to_string(c.N) + " " + c.dir + (c.lens ? " lens" : "") + (c.layout1 ? " layout1" : "") +
         (c.extras ? " extras" : "");
}

void check_case(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t G = c.op == "LSTM" ? 4 : c.op == "GRU" ? 3 : 1, D = c.dir == "bidirectional" ? 2 : 1;
  Attrs attrs{{"direction", attr_s(c.dir)}, {"hidden_size", attr_i(c.H)}, {"layout", attr_i(c.layout1)}};
  std::vector<Tensor> in(c.op == "LSTM" ? 8 : 6);
  in[0] = c.layout1 ? rand_t({c.N, c.S, c.I}, rng, -2, 2) : rand_t({c.S, c.N, c.I}, rng, -2, 2);
  in[1] = rand_t({D, G * c.H, c.I}, rng);
  in[2] = rand_t({D, G * c.H, c.H}, rng);
  in[3] = rand_t({D, 2 * G * c.H}, rng);
  if (c.lens) {
    in[4] = Tensor(DType::kI32, {c.N});
    for (int64_t b = 0; b < c.N; ++b) in[4].data<int32_t>()[b] = static_cast<int32_t>(rng() % (c.S + 1));
  }
  if (c.extras) {
    attrs["clip"] = attr_f(0.7f);
    Shape st = c.layout1 ? Shape{c.N, D, c.H} : Shape{D, c.N, c.H};
    in[5] = rand_t(st, rng);
    if (c.op == "LSTM") {
      in[6] = rand_t(st, rng);
      in[7] = rand_t({D, 3 * c.H}, rng);
    }
    if (c.op == "GRU") attrs["linear_before_reset"] = attr_i(1);
  }
  const size_t nout = c.op == "LSTM" ? 3 : 2;
  std::vector<Tensor> ref;
  ASSERT_TRUE(run_reference(c.op, in, attrs, nout, ref).is_ok()) << describe(c);
  // Every ISA copy of the batched-gates kernel: the baseline one (JOULE_ISA=scalar) and the best.
  for (std::string isa : {"scalar", ""}) {
  std::vector<Tensor> fast, fast_const;
  std::string kernel;
  Status st = run_session(c.op, in, attrs, nout, fast, {}, 14, &kernel, isa);
  ASSERT_TRUE(st.is_ok()) << describe(c) << ": " << st.message();
  st = run_session(c.op, in, attrs, nout, fast_const, {1, 2, 3}, 14, nullptr, isa);  // weights packed at session build
  ASSERT_TRUE(st.is_ok()) << describe(c) << ": " << st.message();
  // The batched-gates kernels live in kernels/cpu (absent from JOULE_SIMD=OFF builds).
  bool has_fast = false;
  for (const kernels::KernelDef* k : kernels::KernelRegistry::builtin().all())
    has_fast |= k->op_type == c.op && k->name.find("batched_gates") != std::string::npos;
  if (has_fast) EXPECT_NE(kernel.find("batched_gates"), std::string::npos) << kernel;
  else std::printf("[ rnn ] no batched-gates kernel in this build: comparing the reference with itself\n");
  for (size_t i = 0; i < nout; ++i) {
    expect_close(fast[i], ref[i], 1e-5, describe(c) + " output " + std::to_string(i));
    expect_close(fast_const[i], ref[i], 1e-5, describe(c) + " (constant weights) output " + std::to_string(i));
  }
  }
}

TEST(RnnKernels, BatchedGatesMatchReferenceOnOddSizes) {
  uint32_t seed = 1;
  for (std::string op : {"LSTM", "GRU", "RNN"})
    for (int64_t H : {1, 3, 17})
      for (int64_t I : {1, 5, 33})
        for (int64_t S : {1, 7})
          for (int64_t N : {1, 3})
            for (std::string dir : {"forward", "reverse", "bidirectional"}) {
              ++seed;
              Case c{op, H, I, S, N, dir, N == 3 && (seed % 2 == 0), seed % 3 == 0, seed % 4 < 2};
              check_case(c, seed);
              if (HasFatalFailure()) return;
            }
}

// extras turns linear_before_reset on; this case has it off, with sequence_lens and bidirectional.
TEST(RnnKernels, GruWithoutLinearBeforeReset) {
  check_case({"GRU", 17, 5, 7, 3, "bidirectional", true, false, false}, 99);
}

// Y past each row's length is zero; Y_h is Y at the last valid step (step 0 for reverse).
TEST(RnnKernels, SequenceLensSemantics) {
  for (std::string op : {"LSTM", "GRU", "RNN"})
    for (std::string dir : {"forward", "reverse"}) {
      std::mt19937 rng(7);
      const int64_t G = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1, H = 3, S = 5, N = 3, I = 2;
      std::vector<Tensor> in(5);
      in[0] = rand_t({S, N, I}, rng);
      in[1] = rand_t({1, G * H, I}, rng);
      in[2] = rand_t({1, G * H, H}, rng);
      in[3] = rand_t({1, 2 * G * H}, rng);
      in[4] = Tensor::from_vector<int32_t>({N}, {5, 2, 0});
      std::vector<Tensor> out;
      ASSERT_TRUE(run_session(op, in, {{"direction", attr_s(dir)}}, 2, out).is_ok());
      const float* Y = out[0].data<float>();
      const float* Yh = out[1].data<float>();
      const int64_t lens[] = {5, 2, 0};
      for (int64_t b = 0; b < N; ++b)
        for (int64_t h = 0; h < H; ++h) {
          for (int64_t t = lens[b]; t < S; ++t) EXPECT_EQ(Y[(t * N + b) * H + h], 0.f) << op << " " << dir;
          const int64_t last = dir == "forward" ? lens[b] - 1 : 0;
          if (lens[b] > 0) EXPECT_EQ(Yh[b * H + h], Y[(last * N + b) * H + h]) << op << " " << dir;
          else EXPECT_EQ(Yh[b * H + h], 0.f) << op << " " << dir;  // no step: the (zero) initial state
        }
    }
}

// An RNN with W = identity, R = 0, no bias computes Y = f(X): checks every activation and its
// alpha / beta against the formula, on both kernels.
TEST(RnnKernels, ActivationFunctionsAndParameters) {
  struct A {
    std::string name;
    std::vector<float> alpha, beta;
    double (*f)(double);
  };
  const std::vector<A> acts = {
      {"Relu", {}, {}, [](double x) { return std::max(0.0, x); }},
      {"Tanh", {}, {}, [](double x) { return std::tanh(x); }},
      {"Sigmoid", {}, {}, [](double x) { return 1 / (1 + std::exp(-x)); }},
      {"Affine", {2.f}, {0.5f}, [](double x) { return 2 * x + 0.5; }},
      {"LeakyRelu", {0.1f}, {}, [](double x) { return x >= 0 ? x : 0.1 * x; }},
      {"LeakyRelu", {}, {}, [](double x) { return x >= 0 ? x : 0.01 * x; }},
      {"ThresholdedRelu", {0.3f}, {}, [](double x) { return x > 0.3 ? x : 0.0; }},
      {"ScaledTanh", {1.5f}, {0.7f}, [](double x) { return 1.5 * std::tanh(0.7 * x); }},
      {"HardSigmoid", {0.3f}, {0.4f}, [](double x) { return std::clamp(0.3 * x + 0.4, 0.0, 1.0); }},
      {"HardSigmoid", {}, {}, [](double x) { return std::clamp(0.2 * x + 0.5, 0.0, 1.0); }},
      {"Elu", {0.8f}, {}, [](double x) { return x >= 0 ? x : 0.8 * (std::exp(x) - 1); }},
      {"Softsign", {}, {}, [](double x) { return x / (1 + std::abs(x)); }},
      {"Softplus", {}, {}, [](double x) { return std::log1p(std::exp(x)); }},
  };
  std::mt19937 rng(3);
  const int64_t S = 3, N = 2, H = 17;
  std::vector<Tensor> in(3);
  in[0] = rand_t({S, N, H}, rng, -3, 3);
  in[1] = Tensor(DType::kF32, {1, H, H});
  in[2] = Tensor(DType::kF32, {1, H, H});
  for (int64_t i = 0; i < H * H; ++i) {
    in[1].data<float>()[i] = i % (H + 1) == 0 ? 1.f : 0.f;
    in[2].data<float>()[i] = 0.f;
  }
  for (const A& a : acts) {
    Attrs attrs{{"activations", attr_ss({a.name})}};
    if (!a.alpha.empty()) attrs["activation_alpha"] = attr_fs(a.alpha);
    if (!a.beta.empty()) attrs["activation_beta"] = attr_fs(a.beta);
    std::vector<Tensor> fast, ref;
    ASSERT_TRUE(run_session("RNN", in, attrs, 1, fast).is_ok()) << a.name;
    ASSERT_TRUE(run_reference("RNN", in, attrs, 1, ref).is_ok()) << a.name;
    for (int64_t t = 0; t < S; ++t)
      for (int64_t i = 0; i < N * H; ++i) {
        double want = a.f(in[0].data<float>()[t * N * H + i]);
        EXPECT_NEAR(fast[0].data<float>()[t * N * H + i], want, 1e-5 * std::max(1.0, std::abs(want))) << a.name;
        EXPECT_NEAR(ref[0].data<float>()[t * N * H + i], want, 1e-5 * std::max(1.0, std::abs(want))) << a.name;
      }
  }
}

// float64 and float16 run through the reference kernel; compare with the float32 result.
TEST(RnnKernels, DoubleAndHalf) {
  std::mt19937 rng(11);
  std::vector<Tensor> in(4);
  in[0] = rand_t({7, 3, 5}, rng);
  in[1] = rand_t({2, 4 * 3, 5}, rng);
  in[2] = rand_t({2, 4 * 3, 3}, rng);
  in[3] = rand_t({2, 8 * 3}, rng);
  Attrs attrs{{"direction", attr_s("bidirectional")}};
  std::vector<Tensor> f32, f64, f16;
  ASSERT_TRUE(run_session("LSTM", in, attrs, 3, f32).is_ok());
  auto cast = [](const std::vector<Tensor>& v, DType t) {
    std::vector<Tensor> out;
    for (auto& x : v) {
      Tensor y(t, x.shape());
      for (int64_t i = 0; i < x.numel(); ++i) {
        if (t == DType::kF64) y.data<double>()[i] = x.data<float>()[i];
        else y.data<Half>()[i] = Half(x.data<float>()[i]);
      }
      out.push_back(y);
    }
    return out;
  };
  ASSERT_TRUE(run_session("LSTM", cast(in, DType::kF64), attrs, 3, f64).is_ok());
  ASSERT_TRUE(run_session("LSTM", cast(in, DType::kF16), attrs, 3, f16).is_ok());
  for (size_t i = 0; i < 3; ++i) {
    expect_close(f64[i], f32[i], 1e-5, "f64");
    expect_close(f16[i], f32[i], 2e-2, "f16");
  }
}

TEST(RnnKernels, CleanErrors) {
  std::mt19937 rng(5);
  std::vector<Tensor> in(5);
  in[0] = rand_t({4, 2, 3}, rng);
  in[1] = rand_t({1, 12, 3}, rng);
  in[2] = rand_t({1, 12, 3}, rng);
  std::vector<Tensor> out;
  Status st = run_session("LSTM", in, {{"direction", attr_s("sideways")}}, 1, out);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("direction"), std::string::npos) << st.message();
  st = run_session("GRU", in, {}, 1, out);  // W has 4*H rows, GRU expects 3*H
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("W has shape"), std::string::npos) << st.message();
  st = run_session("LSTM", in, {{"activations", attr_ss({"Sigmoid", "Cosh", "Tanh"})}}, 1, out);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("Cosh"), std::string::npos) << st.message();
  st = run_session("LSTM", in, {{"activations", attr_ss({"Sigmoid"})}}, 1, out);
  EXPECT_FALSE(st.is_ok());
  st = run_session("LSTM", in, {{"layout", attr_i(2)}}, 1, out);
  EXPECT_FALSE(st.is_ok());
  in[4] = Tensor::from_vector<int32_t>({2}, {3, 9});  // longer than seq = 4
  st = run_session("LSTM", in, {}, 1, out);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("sequence_lens"), std::string::npos) << st.message();
  st = run_reference("LSTM", in, {}, 1, out);
  EXPECT_FALSE(st.is_ok());
}

}  // namespace
