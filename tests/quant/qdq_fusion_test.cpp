// Fused integer execution of quantized models (quant/qdq_fusion.cpp, kernels/ref/qfused.cpp,
// kernels/cpu/qgemm_s16*): QDQ, QOperator and dynamic-quantization graphs built in the IR with seeded
// random weights and odd shapes, run unfused (reference kernels, optimize off) and fused (reference
// joule.* kernels at JOULE_ISA scalar, optimized ones at every ISA this CPU runs, 1 and 2 threads).
//   - QOperator (QLinearConv / QLinearMatMul) and dynamic graphs: fused == unfused bit for bit.
//   - QDQ graphs: the unfused graph accumulates in float, the fused one exactly in int32, so they agree
//     to within one output step (and almost everywhere exactly); every fused kernel agrees bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <random>

#include "joule/session.h"
#ifdef JOULE_WITH_SIMD
#include "kernels/cpu/qgemm_s16.h"
#include "kernels/cpu/qgemm_u8s8.h"
#include "kernels/ref/qadd_common.h"
#endif
#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"

namespace joule {
namespace {

using ir::Attribute;
using ir::Graph;
using ir::Value;

Tensor scalar_f32(float v) {
  Tensor t(DType::kF32, Shape{});
  t.data<float>()[0] = v;
  return t;
}
Tensor scalar_q(DType t, int32_t v) {
  Tensor r(t, Shape{});
  if (t == DType::kU8) r.data<uint8_t>()[0] = static_cast<uint8_t>(v);
  else r.data<int8_t>()[0] = static_cast<int8_t>(v);
  return r;
}
Tensor random_f32(std::mt19937& rng, Shape s, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  Tensor t(DType::kF32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}
Tensor random_i8(std::mt19937& rng, Shape s) {  // full range, -128 included
  std::uniform_int_distribution<int> u(-128, 127);
  Tensor t(DType::kI8, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(u(rng));
  return t;
}
// 7-bit weights as `quantize --reduce-range` writes them, widened to [-64, 64]: every same-sign pair sums to at most
// 128 in magnitude, the bound of the AVX2 u8 x s8 kernels. The first pair (k = 0, 1) of a few channels is set to
// the bound itself (64 + 64, 127 + 1, -128 + 0, -64 - 64) or to opposite extremes (127, -128), which are exact too.
// Channel c's k-th weight is at w[c*cs + k*ps].
Tensor random_w7(std::mt19937& rng, Shape s, int64_t channels, int64_t k, int64_t cs, int64_t ps) {
  std::uniform_int_distribution<int> u(-64, 64);
  Tensor t(DType::kI8, s);
  int8_t* w = t.data<int8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) w[i] = static_cast<int8_t>(u(rng));
  const int8_t pairs[][2] = {{64, 64}, {127, 1}, {-128, 0}, {-64, -64}, {127, -128}, {1, 127}};
  for (int64_t c = 0; c < channels && c < 6 && k >= 2; ++c) w[c * cs] = pairs[c][0], w[c * cs + ps] = pairs[c][1];
  return t;
}
Tensor random_u8(std::mt19937& rng, Shape s) {
  std::uniform_int_distribution<int> u(0, 255);
  Tensor t(DType::kU8, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(u(rng));
  return t;
}

Value* input(Graph& g, const std::string& name, DType t, Shape s) {
  Value* v = g.add_value(name);
  v->desc = ir::TensorDesc::known(t, std::move(s));
  g.inputs.push_back(v);
  return v;
}

// Q -> DQ of a float activation with per-tensor (scale, zp) of type t; returns the DQ output.
Value* qdq(Graph& g, Value* x, float scale, int32_t zp, DType t, Value** q_out = nullptr) {
  Value* s = g.add_constant(x->name + "_s", scalar_f32(scale));
  Value* z = g.add_constant(x->name + "_z", scalar_q(t, zp));
  Value* q = g.add_value(x->name + "_q");
  Value* d = g.add_value(x->name + "_dq");
  g.add_node("QuantizeLinear", {x, s, z}, {q}, x->name + "_Q");
  g.add_node("DequantizeLinear", {q, s, z}, {d}, x->name + "_DQ");
  if (q_out) *q_out = q;
  return d;
}

struct ConvCase {
  int64_t n, c, h, w, oc, kh, kw, stride, pad, group;
  std::string act;  // "", "Relu", "Clip"
  bool y_signed;
  bool requant_act = false;  // then DQ -> Relu -> Q (another scale): fused as a lookup table
};

// x -> QDQ -> Conv(DQ(w s8 per channel), DQ(bias int32)) -> [act] -> QDQ -> y (float), opset 13.
Graph qdq_conv_graph(const ConvCase& k, uint32_t seed, bool seven_bit = false) {
  std::mt19937 rng(seed);
  Graph g;
  g.opset_imports[""] = 13;
  Value* x = input(g, "x", DType::kF32, {k.n, k.c, k.h, k.w});
  const float xs = 0.02f;
  Value* xd = k.y_signed ? qdq(g, x, xs, -7, DType::kI8) : qdq(g, x, xs, 117, DType::kU8);  // int8 in, int8 out
  const int64_t icg = k.c / k.group;
  Tensor ws(DType::kF32, {k.oc});
  for (int64_t i = 0; i < k.oc; ++i) ws.data<float>()[i] = 0.002f + 0.0005f * static_cast<float>(i % 7);
  Tensor bq(DType::kI32, {k.oc}), bs(DType::kF32, {k.oc});
  std::uniform_int_distribution<int> ub(-5000, 5000);
  for (int64_t i = 0; i < k.oc; ++i) bq.data<int32_t>()[i] = ub(rng), bs.data<float>()[i] = xs * ws.data<float>()[i];
  Value* wd = g.add_value("w_dq");
  ir::Node* dqw = g.add_node("DequantizeLinear", {g.add_constant("w_q", seven_bit ? random_w7(rng, {k.oc, icg, k.kh, k.kw}, k.oc, icg * k.kh * k.kw, icg * k.kh * k.kw, 1)
                                                                         : random_i8(rng, {k.oc, icg, k.kh, k.kw})),
                                              g.add_constant("w_s", ws),
                                              g.add_constant("w_z", Tensor(DType::kI8, {k.oc}))},
                         {wd}, "w_DQ");
  dqw->attrs["axis"] = Attribute::of_int(0);
  Value* bd = g.add_value("b_dq");
  ir::Node* dqb = g.add_node("DequantizeLinear", {g.add_constant("b_q", bq), g.add_constant("b_s", bs), g.add_constant("b_z", Tensor(DType::kI32, {k.oc}))},
                         {bd}, "b_DQ");
  dqb->attrs["axis"] = Attribute::of_int(0);
  Value* y = g.add_value("conv_out");
  ir::Node* conv = g.add_node("Conv", {xd, wd, bd}, {y}, "conv");
  conv->attrs["strides"] = Attribute::of_ints({k.stride, k.stride});
  conv->attrs["pads"] = Attribute::of_ints({k.pad, k.pad, k.pad, k.pad});
  conv->attrs["group"] = Attribute::of_int(k.group);
  if (!k.act.empty()) {
    Value* a = g.add_value("act_out");
    std::vector<Value*> ins{y};
    if (k.act == "Clip") ins = {y, g.add_constant("clip_lo", scalar_f32(-0.5f)), g.add_constant("clip_hi", scalar_f32(1.5f))};
    g.add_node(k.act, ins, {a}, "act");
    y = a;
  }
  Value* out = qdq(g, y, 0.03f, k.y_signed ? 0 : 100, k.y_signed ? DType::kI8 : DType::kU8);
  if (k.requant_act) {  // as quant/ writes Conv -> Relu: the Relu output gets its own Q/DQ
    Value* r = g.add_value("relu2_out");
    g.add_node("Relu", {out}, {r}, "relu2");
    out = qdq(g, r, 0.017f, 3, DType::kU8);
  }
  g.outputs.push_back(out);
  return g;
}

// QLinearConv with u8 x / s8 per-channel w / int32 bias, or QLinearMatMul ([m, k] x [k, n]).
// x_signed (QLinearMatMul only): int8 activations with zero point -9.
Graph qlinear_graph(bool conv, int64_t m, int64_t n, int64_t kdim, uint32_t seed, const ConvCase* cc = nullptr, bool seven_bit = false,
                    bool x_signed = false) {
  std::mt19937 rng(seed);
  Graph g;
  g.opset_imports[""] = 13;
  const DType xt = x_signed && !conv ? DType::kI8 : DType::kU8;
  Value* x = conv ? input(g, "x", DType::kU8, {cc->n, cc->c, cc->h, cc->w}) : input(g, "x", xt, {m, kdim});
  const int64_t ch = conv ? cc->oc : n;
  Tensor ws(DType::kF32, {ch});
  for (int64_t i = 0; i < ch; ++i) ws.data<float>()[i] = 0.001f + 0.00037f * static_cast<float>(i % 11);
  Tensor w;
  if (!seven_bit) w = conv ? random_i8(rng, {cc->oc, cc->c / cc->group, cc->kh, cc->kw}) : random_i8(rng, {kdim, n});
  else if (conv) w = random_w7(rng, {cc->oc, cc->c / cc->group, cc->kh, cc->kw}, cc->oc, cc->c / cc->group * cc->kh * cc->kw, cc->c / cc->group * cc->kh * cc->kw, 1);
  else w = random_w7(rng, {kdim, n}, n, kdim, 1, n);
  std::vector<Value*> ins{x, g.add_constant("xs", scalar_f32(0.05f)), g.add_constant("xz", xt == DType::kI8 ? scalar_q(DType::kI8, -9) : scalar_q(DType::kU8, 131)),
                          g.add_constant("w", w), g.add_constant("ws", ws), g.add_constant("wz", Tensor(DType::kI8, {ch})),
                          g.add_constant("ys", scalar_f32(conv ? 0.7f : 2.5f)), g.add_constant("yz", scalar_q(DType::kU8, 97))};
  if (conv) {
    Tensor b(DType::kI32, {ch});
    std::uniform_int_distribution<int> ub(-20000, 20000);
    for (int64_t i = 0; i < ch; ++i) b.data<int32_t>()[i] = ub(rng);
    ins.push_back(g.add_constant("b", b));
  }
  Value* y = g.add_value("y");
  ir::Node* node = g.add_node(conv ? "QLinearConv" : "QLinearMatMul", ins, {y}, "qop");
  if (conv) {
    node->attrs["strides"] = Attribute::of_ints({cc->stride, cc->stride});
    node->attrs["pads"] = Attribute::of_ints({cc->pad, cc->pad, cc->pad, cc->pad});
    node->attrs["group"] = Attribute::of_int(cc->group);
  }
  g.outputs.push_back(y);
  return g;
}

// DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(a_scale * w_scale) -> Add(bias), as quant/ writes it.
Graph dynamic_graph(int64_t m, int64_t n, int64_t kdim, uint32_t seed, bool seven_bit = false) {
  std::mt19937 rng(seed);
  Graph g;
  g.opset_imports[""] = 13;
  Value* a = input(g, "a", DType::kF32, {1, m, kdim});
  Value *aq = g.add_value("aq"), *as = g.add_value("as"), *az = g.add_value("az"), *acc = g.add_value("acc"), *accf = g.add_value("accf"),
        *s = g.add_value("s"), *prod = g.add_value("prod"), *y = g.add_value("y");
  g.add_node("DynamicQuantizeLinear", {a}, {aq, as, az}, "dql");
  g.add_node("MatMulInteger", {aq, g.add_constant("w", seven_bit ? random_w7(rng, {kdim, n}, n, kdim, 1, n) : random_i8(rng, {kdim, n})), az, g.add_constant("wz", Tensor(DType::kI8, Shape{}))}, {acc},
             "mmi");
  g.add_node("Cast", {acc}, {accf}, "cast")->attrs["to"] = Attribute::of_int(1);
  g.add_node("Mul", {as, g.add_constant("ws", random_f32(rng, {n}, 0.001f, 0.01f))}, {s}, "smul");
  g.add_node("Mul", {accf, s}, {prod}, "mul");
  g.add_node("Add", {prod, g.add_constant("bias", random_f32(rng, {n}, -1.f, 1.f))}, {y}, "add");
  g.outputs.push_back(y);
  return g;
}

struct RunResult {
  Tensor y;
  std::string kernels;  // "label=kernel;" of every node
};

RunResult run(Graph g, const std::vector<Tensor>& in, bool optimize, const std::string& isa, int threads) {
  SessionOptions o;
  o.optimize = optimize;
  o.isa = isa;
  o.threads = threads;
  std::unique_ptr<Session> s;
  Status st = Session::create(std::move(g), o, s);
  EXPECT_TRUE(st.is_ok()) << st.message();
  if (!st.is_ok()) return {};
  RunResult r;
  r.y = s->run(in)[0];
  for (auto& [node, k] : s->stats().kernel_for_node) r.kernels += node + "=" + k + ";";
  return r;
}

// ISAs this CPU runs for the optimized kernels; prints the ones it skips.
std::vector<std::string> runnable_isas() {
  static bool told = false;
  std::vector<std::string> out;
#ifndef JOULE_WITH_SIMD
  if (!told) std::cout << "[  SKIPPED ] optimized int8 kernels: this build has none (JOULE_SIMD=OFF)\n";
  told = true;
  return out;
#endif
  for (const char* name : {"avx2", "avx512", "avx512vnni"}) {
    Isa want;
    parse_isa(name, want);
    if (want <= max_isa()) out.push_back(name);
    else if (!told) std::cout << "[  SKIPPED ] ISA " << name << ": this CPU (or JOULE_ISA) does not have it\n";
  }
  told = true;
  return out;
}

void expect_same_bytes(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_TRUE(a.defined() && b.defined()) << what;
  ASSERT_EQ(a.shape(), b.shape()) << what;
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  int64_t bad = 0, first = -1;
  const auto* pa = static_cast<const uint8_t*>(a.raw());
  const auto* pb = static_cast<const uint8_t*>(b.raw());
  for (size_t i = 0; i < a.nbytes(); ++i)
    if (pa[i] != pb[i]) bad++, first = first < 0 ? int64_t(i) : first;
  EXPECT_EQ(bad, 0) << what << ": " << bad << " bytes differ, first at byte " << first;
}

// Every fused kernel (reference at scalar, optimized at each ISA, 1 and 2 threads) gives `ref` exactly.
// Which optimized kernel family a case must run: 7-bit weights the u8 x s8 kernels; full-range ones with enough
// k pairs that some pair exceeds the AVX2 bound the int16 kernels unless a VNNI u8 x s8 kernel runs (tiny K
// may pass the bound by chance: then either is right).
enum class Want { kAny, kU8S8, kS16OrVnni };

void expect_all_fused_equal(const std::function<Graph()>& make, const std::vector<Tensor>& in, const Tensor& ref,
                            const std::string& fused_op, const std::string& what, Want want = Want::kAny) {
  RunResult scalar = run(make(), in, true, "scalar", 1);
  EXPECT_NE(scalar.kernels.find(fused_op + "__ref"), std::string::npos) << what << ": not fused: " << scalar.kernels;
  expect_same_bytes(scalar.y, ref, what + " [reference fused kernel]");
  for (const std::string& isa : runnable_isas())
    for (int threads : {1, 2}) {
      RunResult r = run(make(), in, true, isa, threads);
      const bool u8s8 = r.kernels.find(fused_op + "_u8s8_") != std::string::npos;
      EXPECT_TRUE(u8s8 || r.kernels.find(fused_op + "_s16_") != std::string::npos) << what << ": no optimized kernel: " << r.kernels;
      if (want == Want::kU8S8) EXPECT_TRUE(u8s8) << what << ": no u8 x s8 kernel: " << r.kernels;
      if (want == Want::kS16OrVnni && u8s8)
        EXPECT_NE(r.kernels.find("vnni"), std::string::npos) << what << ": full-range weights on a non-VNNI u8 x s8 kernel: " << r.kernels;
      expect_same_bytes(r.y, ref, what + " [" + isa + ", " + std::to_string(threads) + " threads]");
    }
}

const ConvCase kConvCases[] = {
    {1, 3, 17, 17, 17, 3, 3, 1, 1, 1, "Relu", false},  // odd everything
    {2, 8, 9, 11, 6, 3, 3, 2, 1, 1, "", false},        // batch 2, stride 2
    {1, 17, 7, 5, 31, 1, 1, 1, 0, 1, "Clip", true},    // 1x1 pointwise, int8 output
    {1, 6, 13, 13, 9, 3, 3, 1, 1, 3, "Relu", false},   // grouped
    {1, 5, 15, 15, 5, 3, 3, 1, 1, 5, "", false},       // depthwise
    {1, 1, 28, 28, 3, 5, 5, 1, 2, 1, "Relu", false},   // single channel, 5x5
    {1, 4, 11, 9, 19, 3, 3, 1, 1, 1, "", false, true}, // + DQ -> Relu -> Q as a lookup table
    {1, 4, 11, 9, 19, 3, 3, 1, 1, 1, "", true, true},  // the same from int8
    {1, 3, 9, 67, 5, 7, 7, 2, 3, 1, "Relu", false},    // 7x7 stride 2 over a wide row (vector stride-2 im2col)
};

TEST(QdqFusion, QLinearConvFusedMatchesReferenceBitExactly) {
  for (bool seven_bit : {false, true})
    for (const ConvCase& c : kConvCases) {
      if (c.y_signed) continue;  // this builder writes uint8 outputs only
      std::mt19937 rng(11);
      Tensor x = random_u8(rng, {c.n, c.c, c.h, c.w});
      for (int64_t i = 0; i < x.numel() / 3; ++i) x.data<uint8_t>()[i] = 255;  // the largest pair sums
      auto make = [&] { return qlinear_graph(true, 0, 0, 0, 3, &c, seven_bit); };
      RunResult unfused = run(make(), {x}, false, "", 1);
      ASSERT_EQ(unfused.kernels.find("qconv"), std::string::npos);
      expect_all_fused_equal(make, {x}, unfused.y, "qconv",
                             std::string(seven_bit ? "7-bit " : "") + "QLinearConv c=" + std::to_string(c.c) + " oc=" + std::to_string(c.oc),
                             seven_bit ? Want::kU8S8 : Want::kAny);
    }
}

TEST(QdqFusion, QLinearMatMulFusedMatchesReferenceBitExactlyOnOddShapes) {
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 17, 255}, {17, 255, 3}, {1, 1023, 255}, {255, 17, 1023}, {17, 3, 1023}, {1023, 3, 17}, {6, 32, 64}, {13, 40, 29}};
  for (bool seven_bit : {false, true})
    for (auto& s : shapes) {
      for (int variant : {0, 1, 2}) {  // 1: every activation 255 (the largest pair sums); 2: int8 activations
        const bool saturated = variant == 1, x_signed = variant == 2;
        std::mt19937 rng(static_cast<uint32_t>(s[0] * 7 + s[1] * 3 + s[2]));
        Tensor a = random_u8(rng, {s[0], s[2]});
        if (saturated) std::fill(a.data<uint8_t>(), a.data<uint8_t>() + a.numel(), uint8_t{255});
        if (x_signed) a = Tensor(DType::kI8, {s[0], s[2]}), a.data<int8_t>()[0] = 127, a.data<int8_t>()[a.numel() - 1] = -128;
        if (x_signed)
          for (int64_t i = 1; i + 1 < a.numel(); ++i) a.data<int8_t>()[i] = static_cast<int8_t>(rng() % 256);
        auto make = [&] { return qlinear_graph(false, s[0], s[1], s[2], 5, nullptr, seven_bit, x_signed); };
        RunResult unfused = run(make(), {a}, false, "", 1);
        expect_all_fused_equal(make, {a}, unfused.y, "qgemm",
                               std::string(seven_bit ? "7-bit " : "") + (saturated ? "a=255 " : "") + (x_signed ? "int8 a " : "") + "QLinearMatMul " + std::to_string(s[0]) +
                                   "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]),
                               seven_bit ? Want::kU8S8 : s[2] >= 255 ? Want::kS16OrVnni : Want::kAny);
      }
    }
}

TEST(QdqFusion, QdqConvFusedAgreesWithFloatGraphWithinOneStep) {
  for (bool seven_bit : {false, true})
  for (const ConvCase& c : kConvCases) {
    std::mt19937 rng(23);
    Tensor x = random_f32(rng, {c.n, c.c, c.h, c.w}, -2.0f, 3.0f);
    auto make = [&] { return qdq_conv_graph(c, 9, seven_bit); };
    RunResult unfused = run(make(), {x}, false, "", 1);
    RunResult fused = run(make(), {x}, true, "scalar", 1);
    ASSERT_NE(fused.kernels.find("qconv__ref"), std::string::npos) << "not fused: " << fused.kernels;
    if (c.requant_act) EXPECT_EQ(fused.kernels.find("Relu"), std::string::npos) << "DQ -> Relu -> Q not fused: " << fused.kernels;
    const float step = c.requant_act ? 0.017f * 2 : 0.03f;  // a 1-step change can round to 2 steps of the finer scale
    int64_t exact = 0, n = unfused.y.numel(), nonzero = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float a = unfused.y.data<float>()[i], b = fused.y.data<float>()[i];
      EXPECT_LE(std::fabs(a - b), step * 1.001f) << "element " << i;
      exact += a == b;
      nonzero += a != 0.0f;
    }
    EXPECT_GE(exact, n * 99 / 100) << "fused and unfused differ in more than 1% of the outputs";
    std::cout << "QDQ Conv c=" << c.c << " oc=" << c.oc << ": " << exact << " of " << n << " outputs identical to the float graph\n";
    EXPECT_GT(nonzero, n / 10) << "outputs are mostly zero: the test would prove little";
    expect_all_fused_equal(make, {x}, fused.y, "qconv",
                           std::string(seven_bit ? "7-bit " : "") + "QDQ Conv c=" + std::to_string(c.c) + " oc=" + std::to_string(c.oc) + " " + c.act,
                           seven_bit ? Want::kU8S8 : Want::kAny);
  }
}

TEST(QdqFusion, DynamicMatMulFusedMatchesUnfusedBitExactly) {
  const int64_t shapes[][3] = {{1, 3, 17}, {17, 255, 3}, {3, 17, 1023}, {255, 1023, 17}, {128, 384, 384}, {13, 40, 29}};
  for (bool seven_bit : {false, true})
    for (auto& s : shapes) {
      std::mt19937 rng(static_cast<uint32_t>(s[0] + s[1] + s[2]));
      Tensor a = random_f32(rng, {1, s[0], s[2]}, -3.0f, 2.0f);
      auto make = [&] { return dynamic_graph(s[0], s[1], s[2], 13, seven_bit); };
      RunResult unfused = run(make(), {a}, false, "", 1);
      expect_all_fused_equal(make, {a}, unfused.y, "dynq_matmul",
                             std::string(seven_bit ? "7-bit " : "") + "dynamic " + std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" +
                                 std::to_string(s[2]),
                             seven_bit ? Want::kU8S8 : s[2] >= 255 ? Want::kS16OrVnni : Want::kAny);
    }
}

// x -> QuantizeLinear -> DequantizeLinear on odd sizes with extremes, NaN and infinities: the AVX2 per-tensor
// kernels (kernels/cpu/quantize_linear_f32*) against the reference ones, bit for bit.
TEST(QdqFusion, PerTensorQuantizeDequantizeMatchReference) {
#ifndef JOULE_WITH_SIMD
  GTEST_SKIP() << "no optimized kernels in this build (JOULE_SIMD=OFF)";
#endif
  if (max_isa() < Isa::kAvx2) GTEST_SKIP() << "needs AVX2";
  for (DType t : {DType::kU8, DType::kI8})
    for (int64_t n : {1, 3, 17, 255, 1023}) {
      std::mt19937 rng(static_cast<uint32_t>(n));
      Tensor x = random_f32(rng, {n}, -9.0f, 9.0f);
      float* px = x.data<float>();
      const float special[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 0.5f * 0.037f, 1.5f * 0.037f, -2.5f * 0.037f};
      for (int64_t i = 0; i < n && i < 8; ++i) px[i * 7 % n] = special[i];
      auto make = [&] {
        Graph g;
        g.opset_imports[""] = 13;
        Value* in = input(g, "x", DType::kF32, {n});
        Value* q = nullptr;
        Value* d = qdq(g, in, 0.037f, t == DType::kU8 ? 129 : -3, t, &q);
        g.outputs.push_back(q);
        g.outputs.push_back(d);
        return g;
      };
      SessionOptions o;
      std::vector<Tensor> got[2];
      for (int k = 0; k < 2; ++k) {
        o.isa = k == 0 ? "scalar" : "avx2";
        std::unique_ptr<Session> s;
        ASSERT_TRUE(Session::create(make(), o, s).is_ok());
        got[k] = s->run({x});
        if (k == 1) EXPECT_NE(s->stats().kernel_for_node.begin()->second.find("avx2"), std::string::npos);
      }
      expect_same_bytes(got[1][0], got[0][0], "QuantizeLinear n=" + std::to_string(n));
      expect_same_bytes(got[1][1], got[0][1], "DequantizeLinear n=" + std::to_string(n));
    }
}

#ifdef JOULE_WITH_SIMD
TEST(QdqFusion, MicroKernelsMatchTileReferenceForFullRangeOperands) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> u(-255, 255);
  bool ran = false;
  for (const auto& k : kernels::cpu::qgemm_s16_ukernels()) {
    if (k.isa > max_isa() || !k.runs_here()) {
      std::cout << "[  SKIPPED ] " << k.name << ": this CPU lacks its ISA (AVX2-only machines skip AVX-512 / VNNI)\n";
      continue;
    }
    ran = true;
    for (int64_t kp : {2, 4, 18, 256, 1024}) {
      std::vector<int16_t> rows(size_t(k.mr * kp)), panel(size_t(kp * 16));
      for (auto& v : rows) v = static_cast<int16_t>(u(rng));
      for (auto& v : panel) v = static_cast<int16_t>(u(rng));
      rows[0] = 255, rows[1] = 255, panel[0] = -255, panel[1] = -255;  // the extreme pair sums
      std::vector<const int16_t*> r;
      for (int i = 0; i < k.mr; ++i) r.push_back(rows.data() + i * kp);
      std::vector<int32_t> got(size_t(k.mr * 16)), want(got.size());
      k.fn(kp, r.data(), panel.data(), got.data());
      kernels::cpu::qgemm_s16_tile_ref(k.mr, kp, r.data(), panel.data(), want.data());
      EXPECT_EQ(got, want) << k.name << " kp=" << kp;
    }
  }
  if (!ran) GTEST_SKIP() << "no int16 GEMM micro-kernel runs on this CPU (needs AVX2)";
}

// u8 x s8 micro-kernels (both operand orders) against the plain tile: activations up to 255 (a run of 255s),
// weights within the AVX2 pair bound with pairs exactly at it, full-range weights for the VNNI kernels.
TEST(QdqFusion, U8S8MicroKernelsMatchTileReferenceAtThePairBound) {
  using kernels::cpu::qweights_fit_u8s8_pairs;
  const int8_t ok_pairs[][2] = {{64, 64}, {127, 1}, {1, 127}, {-128, 0}, {-64, -64}, {127, -128}, {-1, -127}};
  const int8_t bad_pairs[][2] = {{65, 64}, {127, 2}, {-128, -1}, {-65, -64}};
  for (auto& p : ok_pairs)
    EXPECT_TRUE(qweights_fit_u8s8_pairs(1, 2, [&](int64_t, int64_t k) { return int32_t{p[k]}; })) << int(p[0]) << ", " << int(p[1]);
  for (auto& p : bad_pairs)
    EXPECT_FALSE(qweights_fit_u8s8_pairs(1, 2, [&](int64_t, int64_t k) { return int32_t{p[k]}; })) << int(p[0]) << ", " << int(p[1]);
  EXPECT_TRUE(qweights_fit_u8s8_pairs(1, 3, [](int64_t, int64_t k) { return k == 1 ? 127 : 1; }));  // pairs (1, 127), (1, 0)
  EXPECT_TRUE(qweights_fit_u8s8_pairs(1, 1, [](int64_t, int64_t) { return 127; }));    // odd K: (127, 0)
  EXPECT_FALSE(qweights_fit_u8s8_pairs(2, 2, [](int64_t c, int64_t) { return c == 1 ? 127 : 1; }));  // column 1 fails
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> u8(0, 255), w7(-64, 64), w8(-128, 127);
  bool ran = false;
  for (const auto& k : kernels::cpu::qgemm_u8s8_ukernels()) {
    if (k.isa > max_isa() || !k.runs_here()) {
      std::cout << "[  SKIPPED ] u8s8 " << k.name << ": this CPU lacks its ISA (AVX2-only machines skip AVX-512 VNNI / AVX-VNNI)\n";
      continue;
    }
    ran = true;
    for (bool rows_u8 : {true, false})
      for (int64_t kq : {4, 8, 20, 256, 1024}) {
        std::vector<uint8_t> rows(size_t(k.mr * kq)), panel(size_t(kq * 16));
        auto act = [&] { return static_cast<uint8_t>(u8(rng) < 64 ? 255 : u8(rng)); };
        auto wgt = [&] { return static_cast<uint8_t>(static_cast<int8_t>(k.any_weights ? w8(rng) : w7(rng))); };
        for (auto& v : rows) v = rows_u8 ? act() : wgt();
        for (auto& v : panel) v = rows_u8 ? wgt() : act();
        // The extreme pairs: 255 activations against (64, 64) / (-64, -64) weights (or -128 / 127 for VNNI).
        uint8_t* w0 = rows_u8 ? panel.data() : rows.data();
        uint8_t* a0 = rows_u8 ? rows.data() : panel.data();
        const int8_t hi = k.any_weights ? 127 : 64, lo = k.any_weights ? -128 : -64;
        w0[0] = w0[1] = static_cast<uint8_t>(hi);
        w0[2] = w0[3] = static_cast<uint8_t>(lo);
        a0[0] = a0[1] = a0[2] = a0[3] = 255;
        std::vector<const uint8_t*> r;
        for (int i = 0; i < k.mr; ++i) r.push_back(rows.data() + i * kq);
        std::vector<int32_t> got(size_t(k.mr * 16)), want(got.size());
        (rows_u8 ? k.u8s8 : k.s8u8)(kq, r.data(), panel.data(), got.data());
        kernels::cpu::qgemm_u8s8_tile_ref(k.mr, kq, r.data(), panel.data(), want.data(), rows_u8);
        EXPECT_EQ(got, want) << k.name << (rows_u8 ? " u8s8" : " s8u8") << " kq=" << kq;
        // The two-panel (MR x 32) variant: the first panel as above, a second random one at an odd stride.
        if (auto x2 = rows_u8 ? k.u8s8_x2 : k.s8u8_x2) {
          const int64_t stride = kq * 16 + 64;
          std::vector<uint8_t> panels(size_t(stride + kq * 16));
          std::copy(panel.begin(), panel.end(), panels.begin());
          for (int64_t i = 0; i < kq * 16; ++i) panels[size_t(stride + i)] = rows_u8 ? wgt() : act();
          std::vector<int32_t> got2(size_t(2 * k.mr * 16)), want1(size_t(k.mr * 16));
          x2(kq, r.data(), panels.data(), stride, got2.data());
          kernels::cpu::qgemm_u8s8_tile_ref(k.mr, kq, r.data(), panels.data() + stride, want1.data(), rows_u8);
          EXPECT_TRUE(std::equal(want.begin(), want.end(), got2.begin())) << k.name << " x2 panel 0" << (rows_u8 ? " u8s8" : " s8u8") << " kq=" << kq;
          EXPECT_TRUE(std::equal(want1.begin(), want1.end(), got2.begin() + k.mr * 16)) << k.name << " x2 panel 1" << (rows_u8 ? " u8s8" : " s8u8") << " kq=" << kq;
        }
      }
  }
  if (!ran) GTEST_SKIP() << "no u8 x s8 GEMM micro-kernel runs on this CPU (needs AVX2)";
}
// The AVX-512 im2col row (stride 1 and 2) against its definition: windows hanging over either end of the row,
// rows shorter and longer than one 64-byte (32 for stride 2) chunk, with and without the s8 -> u8 flip.
TEST(QdqFusion, Im2colRowAvx512MatchesDefinition) {
  if (max_isa() < Isa::kAvx512Vnni) GTEST_SKIP() << "needs AVX-512 (BW) as the VNNI QConv uses it; this CPU or JOULE_ISA lacks it";
  std::mt19937 rng(17);
  std::vector<uint8_t> x(400);
  for (auto& v : x) v = static_cast<uint8_t>(rng());
  for (int64_t stride : {1, 2})
    for (int64_t w : {1, 3, 7, 17, 56, 67, 112, 255})
      for (int64_t off : {-3, -1, 0, 1, 2, 5})
        for (int64_t ow : {1, 3, 7, 17, 32, 33, 64, 65, 127}) {
          for (uint8_t flip : {uint8_t{0}, uint8_t{0x80}}) {
            std::vector<uint8_t> got(size_t(ow) + 8, 0xEE), want(got);
            for (int64_t j = 0; j < ow; ++j) {
              const int64_t i = j * stride + off;
              want[size_t(j)] = i >= 0 && i < w ? static_cast<uint8_t>(x[size_t(100 + i)] ^ flip) : uint8_t{77};
            }
            kernels::cpu::qim2col_row_u8__avx512(x.data() + 100, off, stride, w, ow, 77, flip, got.data());
            EXPECT_EQ(got, want) << "stride " << stride << " w " << w << " off " << off << " ow " << ow << " flip " << int(flip);
          }
        }
}
#endif  // JOULE_WITH_SIMD (tests/CMakeLists.txt defines it for this file when kernels/cpu is built)


// DQ(a) + DQ(b) -> Add [-> Relu|Clip] -> Q, as quant/ writes a ResNet's residual Add: fused into joule.QAdd.
Graph qdq_add_graph(int64_t n, const std::string& act, DType t) {
  Graph g;
  g.opset_imports[""] = 13;
  const bool u8 = t == DType::kU8;
  Value* a = input(g, "a", DType::kF32, {1, n});
  Value* b = input(g, "b", DType::kF32, {1, n});
  Value* ad = qdq(g, a, 0.021f, u8 ? 131 : -5, t);
  Value* bd = qdq(g, b, 0.013f, u8 ? 7 : 3, t);
  Value* y = g.add_value("sum");
  g.add_node("Add", {ad, bd}, {y}, "add");
  if (!act.empty()) {
    Value* r = g.add_value("act_out");
    std::vector<Value*> ins{y};
    if (act == "Clip") ins = {y, g.add_constant("clip_lo", scalar_f32(-0.7f)), g.add_constant("clip_hi", scalar_f32(2.2f))};
    g.add_node(act, ins, {r}, "act");
    y = r;
  }
  g.outputs.push_back(qdq(g, y, 0.03f, u8 ? 101 : -2, t));
  return g;
}

TEST(QdqFusion, QdqAddFusedAgreesWithFloatGraphWithinOneStep) {
  for (DType t : {DType::kU8, DType::kI8})
    for (const char* act : {"Relu", "", "Clip"})
      for (int64_t n : {1, 3, 17, 255, 1023, 3 * 4096 + 5}) {
        std::mt19937 rng(static_cast<uint32_t>(n) + 11);
        Tensor a = random_f32(rng, {1, n}, -3.5f, 3.5f), b = random_f32(rng, {1, n}, -2.5f, 2.5f);  // both saturate somewhere
        auto make = [&] { return qdq_add_graph(n, act, t); };
        const std::string what = std::string(t == DType::kU8 ? "u8" : "s8") + " QDQ Add " + act + " n=" + std::to_string(n);
        RunResult unfused = run(make(), {a, b}, false, "", 1);
        RunResult fused = run(make(), {a, b}, true, "scalar", 1);
        ASSERT_NE(fused.kernels.find("qadd__ref"), std::string::npos) << what << ": not fused: " << fused.kernels;
        EXPECT_EQ(fused.kernels.find("Relu"), std::string::npos) << what << ": activation not fused: " << fused.kernels;
        int64_t exact = 0;
        for (int64_t i = 0; i < n; ++i) {
          const float x = unfused.y.data<float>()[i], z = fused.y.data<float>()[i];
          EXPECT_LE(std::fabs(x - z), 0.03f * 1.001f) << what << " element " << i;
          exact += x == z;
        }
        EXPECT_GE(exact, n * 95 / 100) << what << ": fused and unfused differ in more than 5% of the outputs";
        if (n == 1023) std::cout << what << ": " << exact << " of " << n << " outputs identical to the float graph\n";
        // Every optimized kernel (u8 only; int8 stays on the reference) gives the reference fused kernel's bytes.
        for (const std::string& isa : runnable_isas())
          for (int threads : {1, 2}) {
            RunResult r = run(make(), {a, b}, true, isa, threads);
            if (t == DType::kU8) {
              const std::string want = isa == "avx2" ? "qadd_u8__avx2" : "qadd_u8__avx512";
              EXPECT_NE(r.kernels.find(want), std::string::npos) << what << " [" << isa << "]: " << r.kernels;
            }
            expect_same_bytes(r.y, fused.y, what + " [" + isa + ", " + std::to_string(threads) + " threads]");
          }
      }
}

// The SIMD QAdd kernels against the reference formula on every u8 input pair (a, b) at several parameter sets,
// including multipliers whose products land exactly on .5 (round half to even) and clamps by qmin/qmax.
#ifdef JOULE_WITH_SIMD
}  // namespace
namespace kernels::cpu {
void qadd_u8__avx2(const uint8_t* a, const uint8_t* b, int64_t n, const quant::QAddParams& p, uint8_t* y);
void qadd_u8__avx512(const uint8_t* a, const uint8_t* b, int64_t n, const quant::QAddParams& p, uint8_t* y);
}  // namespace kernels::cpu
namespace {
TEST(QdqFusion, QAddKernelsMatchReferenceOnAllInputPairs) {
  std::vector<uint8_t> a(65536), b(65536), want(65536), got(65536);
  for (int i = 0; i < 65536; ++i) a[size_t(i)] = uint8_t(i & 255), b[size_t(i)] = uint8_t(i >> 8);
  const kernels::quant::QAddParams ps[] = {
      kernels::quant::qadd_params(0.021f, 131, 0.013f, 7, 0.03f, 101, 101, 255),  // Relu
      kernels::quant::qadd_params(0.5f, 128, 0.25f, 0, 1.0f, 0, 0, 255),          // exact halves
      kernels::quant::qadd_params(0.1f, 0, 0.1f, 255, 0.0031f, 128, 0, 255),      // saturates both ways
      kernels::quant::qadd_params(1.5f, 3, 0.75f, 250, 2.0f, 17, 20, 230),        // narrowed by Clip
  };
  bool ran = false;
  for (const auto& p : ps) {
    for (int i = 0; i < 65536; ++i) want[size_t(i)] = uint8_t(kernels::quant::qadd_one(p, a[size_t(i)], b[size_t(i)]));
    for (int64_t n : {int64_t(1), int64_t(3), int64_t(17), int64_t(255), int64_t(1023), int64_t(65536)}) {
      if (max_isa() >= Isa::kAvx2) {
        std::fill(got.begin(), got.end(), 0xAB);
        kernels::cpu::qadd_u8__avx2(a.data(), b.data(), n, p, got.data());
        EXPECT_TRUE(std::equal(want.begin(), want.begin() + n, got.begin())) << "avx2 n=" << n;
        EXPECT_EQ(got[size_t(n) % 65536], n < 65536 ? 0xAB : got[0]) << "avx2 wrote past n=" << n;
        ran = true;
      }
      if (max_isa() >= Isa::kAvx512) {
        std::fill(got.begin(), got.end(), 0xAB);
        kernels::cpu::qadd_u8__avx512(a.data(), b.data(), n, p, got.data());
        EXPECT_TRUE(std::equal(want.begin(), want.begin() + n, got.begin())) << "avx512 n=" << n;
        EXPECT_EQ(got[size_t(n) % 65536], n < 65536 ? 0xAB : got[0]) << "avx512 wrote past n=" << n;
      }
    }
  }
  if (!ran) GTEST_SKIP() << "no SIMD QAdd kernel runs on this CPU (needs AVX2)";
  if (max_isa() < Isa::kAvx512) std::cout << "[  SKIPPED ] qadd_u8__avx512: this CPU (or JOULE_ISA) lacks AVX-512\n";
}
#endif

}  // namespace
}  // namespace joule
