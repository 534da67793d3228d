// MatMulNBits: the reference kernel against a plain dequantize-then-multiply, and every fast CPU kernel
// (kernels/cpu/matmul_nbits_f32*) against the reference on seeded random data with odd shapes (M 1, 3, 17;
// N 1, 17, 255; K 32..1023 with each block size), symmetric / packed u8 / float zero points, f16 edges,
// bias, and 1 vs 3 threads bitwise. Kernels whose ISA the CPU lacks are skipped with a message.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "kernels/kernel_registry.h"
#if JOULE_WITH_SIMD
#include "kernels/cpu/matmul_nbits_f32.h"
#endif
#include "runtime/cpu_features.h"
#include "runtime/ops/matmul_nbits_format.h"

using namespace joule;
using namespace joule::kernels;

namespace {

enum class Zp { kNone, kPacked, kFloat };

struct NbitsCase {
  std::string what;
  std::shared_ptr<ir::Graph> graph = std::make_shared<ir::Graph>();
  ir::Node* node = nullptr;
  std::vector<Tensor> inputs;  // undefined = omitted
  Shape out_shape;
  DType out_dtype = DType::kF32;
  std::vector<float> w;  // dequantized W[N][K] (for the reference check)
};

NbitsCase make_nbits_case(int64_t m, int64_t n, int64_t k, int64_t block, Zp zp, bool f16, bool bias, bool g_idx,
                          std::mt19937& rng) {
  NbitsCase c;
  const int64_t kb = (k + block - 1) / block, blob = block / 2, zp_row = (kb + 1) / 2;
  const DType ft = f16 ? DType::kF16 : DType::kF32;
  std::uniform_real_distribution<float> u(-1.0f, 1.0f), us(0.01f, 0.2f);
  std::uniform_int_distribution<int> code(0, 15);
  auto fset = [&](Tensor& t, int64_t i, float v) {
    if (f16) t.data<Half>()[i] = Half(v);
    else t.data<float>()[i] = v;
  };
  auto fget = [&](const Tensor& t, int64_t i) { return f16 ? static_cast<float>(t.data<Half>()[i]) : t.data<float>()[i]; };
  Tensor a(ft, {m, k});
  for (int64_t i = 0; i < a.numel(); ++i) fset(a, i, u(rng));
  Tensor b(DType::kU8, {n, kb, blob});
  for (int64_t i = 0; i < b.numel(); ++i) b.data<uint8_t>()[i] = static_cast<uint8_t>(code(rng) | code(rng) << 4);
  Tensor sc(ft, {n * kb});
  for (int64_t i = 0; i < sc.numel(); ++i) fset(sc, i, us(rng) * (u(rng) < 0 ? -1.0f : 1.0f));
  Tensor z;
  if (zp == Zp::kPacked) {
    z = Tensor(DType::kU8, {n * zp_row});
    for (int64_t i = 0; i < z.numel(); ++i) z.data<uint8_t>()[i] = static_cast<uint8_t>(code(rng) | code(rng) << 4);
  } else if (zp == Zp::kFloat) {
    z = Tensor(ft, {n * kb});
    for (int64_t i = 0; i < z.numel(); ++i) fset(z, i, static_cast<float>(code(rng)));
  }
  Tensor gi;
  if (g_idx) {
    gi = Tensor(DType::kI32, {k});
    for (int64_t i = 0; i < k; ++i) gi.data<int32_t>()[i] = static_cast<int32_t>((i * 7) % kb);
  }
  Tensor bs;
  if (bias) {
    bs = Tensor(ft, {n});
    for (int64_t i = 0; i < n; ++i) fset(bs, i, u(rng));
  }
  c.inputs = {a, b, sc, z, gi, bs};
  while (!c.inputs.empty() && !c.inputs.back().defined()) c.inputs.pop_back();
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < c.inputs.size(); ++i) ins.push_back(c.inputs[i].defined() ? c.graph->add_value("in" + std::to_string(i)) : nullptr);
  c.node = c.graph->add_node("MatMulNBits", ins, {c.graph->add_value("out")}, "nbits", "com.microsoft");
  c.node->opset = 1;
  c.node->attrs["K"] = ir::Attribute::of_int(k);
  c.node->attrs["N"] = ir::Attribute::of_int(n);
  c.node->attrs["bits"] = ir::Attribute::of_int(4);
  c.node->attrs["block_size"] = ir::Attribute::of_int(block);
  c.out_shape = {m, n};
  c.out_dtype = ft;
  ops::MatMulNBitsShape s;
  EXPECT_TRUE(ops::MatMulNBitsShape::from_node(*c.node, s).is_ok());
  c.w.resize(static_cast<size_t>(n * k));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < k; ++j) {
      int64_t blk = g_idx ? gi.data<int32_t>()[j] : j / block;
      float zz = zp == Zp::kPacked ? ops::nbits_packed_zero_point(z.data<uint8_t>(), s, r, blk)
                 : zp == Zp::kFloat ? fget(z, r * kb + blk)
                                    : 8.0f;
      c.w[static_cast<size_t>(r * k + j)] = (static_cast<float>(ops::nbits_code(b.data<uint8_t>(), s, r, j)) - zz) * fget(sc, r * kb + blk);
    }
  c.what = "M" + std::to_string(m) + " N" + std::to_string(n) + " K" + std::to_string(k) + " block" + std::to_string(block) +
           (zp == Zp::kPacked ? " u8 zp" : zp == Zp::kFloat ? " float zp" : " sym") + (f16 ? " f16" : "") + (bias ? " bias" : "") +
           (g_idx ? " g_idx" : "");
  return c;
}

KernelQuery query_of(const NbitsCase& c) {
  KernelQuery q{*c.node, {}, {}};
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor& t = c.inputs[i];
    q.inputs.push_back(t.defined() ? ir::TensorDesc::known(t.dtype(), t.shape()) : ir::TensorDesc{});
    q.constant_inputs.push_back(t.defined() && i >= 1 ? &t : nullptr);  // weights are constants, A is not
  }
  return q;
}

Status run_kernel(const KernelDef& k, const NbitsCase& c, ThreadPool* pool, Tensor& out) {
  KernelQuery q = query_of(c);
  std::shared_ptr<const void> state;
  if (k.prepare) JOULE_RETURN_IF_ERROR(k.prepare(q, state));
  out = Tensor(c.out_dtype, c.out_shape);
  KernelContext ctx{*c.node, {}, {&out}, pool, state.get()};
  for (const Tensor& t : c.inputs) ctx.inputs.push_back(t.defined() ? &t : nullptr);
  return k.run(ctx);
}

// Sets an environment variable for one scope (restores the old value).
struct EnvGuard {
  std::string name, old;
  bool had;
  EnvGuard(const char* n, const char* v) : name(n) {
    const char* o = std::getenv(n);
    had = o != nullptr;
    if (had) old = o;
    if (v) setenv(n, v, 1);
    else unsetenv(n);
  }
  ~EnvGuard() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
};

float at(const Tensor& t, int64_t i) { return t.dtype() == DType::kF16 ? static_cast<float>(t.data<Half>()[i]) : t.data<float>()[i]; }

// Max over elements of |got - want| / (|want| + mean|want|).
double rel_error(const Tensor& got, const Tensor& want) {
  double mean = 1e-30;
  for (int64_t i = 0; i < want.numel(); ++i) mean += std::fabs(at(want, i)) / static_cast<double>(want.numel());
  double worst = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double w = at(want, i), g = at(got, i);
    if (std::isnan(g) != std::isnan(w)) return INFINITY;
    worst = std::max(worst, std::fabs(g - w) / (std::fabs(w) + mean));
  }
  return worst;
}

std::vector<NbitsCase> all_cases() {
  std::mt19937 rng(20261123);
  std::vector<NbitsCase> cs;
  const int64_t kblocks[][2] = {{32, 32}, {100, 16}, {255, 64}, {513, 32}, {1023, 128}, {1023, 256}, {64, 64}};
  int i = 0;
  for (int64_t m : {1, 3, 17})
    for (int64_t n : {1, 17, 255})
      for (auto& kbk : kblocks) {
        Zp zp = (i % 3 == 0) ? Zp::kNone : (i % 3 == 1) ? Zp::kPacked : Zp::kFloat;
        cs.push_back(make_nbits_case(m, n, kbk[0], kbk[1], zp, false, i % 2 == 0, false, rng));
        ++i;
      }
  cs.push_back(make_nbits_case(3, 17, 100, 32, Zp::kPacked, true, true, false, rng));   // fp16 A / scales / bias
  cs.push_back(make_nbits_case(17, 33, 255, 64, Zp::kFloat, true, false, false, rng));  // fp16, GEMM path
  cs.push_back(make_nbits_case(1, 20, 130, 32, Zp::kNone, true, true, false, rng));     // fp16 GEMV
  cs.push_back(make_nbits_case(2, 64, 96, 32, Zp::kPacked, false, true, false, rng));   // N a multiple of 32
  cs.push_back(make_nbits_case(40, 48, 256, 128, Zp::kNone, false, true, false, rng));  // more rows than one tile
  return cs;
}

}  // namespace

TEST(MatMulNBits, ReferenceMatchesDequantizedMatMul) {
  const KernelDef* ref = KernelRegistry::builtin().reference("com.microsoft", "MatMulNBits");
  ASSERT_NE(ref, nullptr);
  std::mt19937 rng(7);
  std::vector<NbitsCase> cs = {make_nbits_case(3, 17, 100, 32, Zp::kPacked, false, true, false, rng),
                               make_nbits_case(1, 5, 64, 16, Zp::kFloat, false, false, false, rng),
                               make_nbits_case(2, 9, 77, 32, Zp::kNone, false, false, true, rng)};
  for (auto& c : cs) {
    SCOPED_TRACE(c.what);
    Tensor y;
    ASSERT_TRUE(run_kernel(*ref, c, nullptr, y).is_ok());
    const Tensor& a = c.inputs[0];
    const int64_t m = c.out_shape[0], n = c.out_shape[1], k = a.dim(1);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double want = c.inputs.size() > 5 ? at(c.inputs[5], j) : 0.0;
        for (int64_t p = 0; p < k; ++p) want += double(at(a, i * k + p)) * c.w[static_cast<size_t>(j * k + p)];
        EXPECT_NEAR(y.data<float>()[i * n + j], want, 1e-4 * (1 + std::fabs(want)));
      }
  }
}

TEST(MatMulNBits, ReferenceRejectsBadInputsWithNodeName) {
  const KernelDef* ref = KernelRegistry::builtin().reference("com.microsoft", "MatMulNBits");
  std::mt19937 rng(8);
  NbitsCase c = make_nbits_case(2, 5, 64, 32, Zp::kNone, false, false, false, rng);
  c.inputs[1] = Tensor(DType::kU8, {5, 2, 3});  // wrong blob size
  Tensor y;
  Status s = run_kernel(*ref, c, nullptr, y);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("nbits"), std::string::npos) << s.message();
  NbitsCase d = make_nbits_case(2, 5, 64, 32, Zp::kNone, false, false, false, rng);
  d.node->attrs["block_size"] = ir::Attribute::of_int(24);
  EXPECT_FALSE(run_kernel(*ref, d, nullptr, y).is_ok());
  d.node->attrs["block_size"] = ir::Attribute::of_int(32);
  d.node->attrs["bits"] = ir::Attribute::of_int(3);
  s = run_kernel(*ref, d, nullptr, y);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("bits=3"), std::string::npos) << s.message();
}

TEST(MatMulNBits, FastKernelsMatchReference) {
  const KernelDef* ref = KernelRegistry::builtin().reference("com.microsoft", "MatMulNBits");
  ASSERT_NE(ref, nullptr);
  const Isa cpu_isa = max_isa();
  ThreadPool pool1(1), pool3(3);
  int fast = 0, ran = 0;
  std::vector<NbitsCase> cs = all_cases();
  for (const KernelDef* k : KernelRegistry::builtin().all()) {
    if (k->op_type != "MatMulNBits" || k == ref || k->device != Device::kCpu) continue;
    ++fast;
    if (k->isa > cpu_isa) {
      std::printf("[ int4 ] SKIP %s: needs %s, this CPU (or JOULE_ISA) allows %s\n", k->name.c_str(),
                  std::string(isa_name(k->isa)).c_str(), std::string(isa_name(cpu_isa)).c_str());
      continue;
    }
    ++ran;
    double worst = 0;
    int accepted = 0;
    for (const NbitsCase& c : cs) {
      SCOPED_TRACE(k->name + ": " + c.what);
      ASSERT_TRUE(!k->accepts || k->accepts(query_of(c)));
      ++accepted;
      Tensor want, got1, got3;
      ASSERT_TRUE(run_kernel(*ref, c, nullptr, want).is_ok());
      Status s = run_kernel(*k, c, &pool1, got1);
      ASSERT_TRUE(s.is_ok()) << s.message();
      ASSERT_TRUE(run_kernel(*k, c, &pool3, got3).is_ok());
      EXPECT_EQ(std::memcmp(got1.raw(), got3.raw(), got1.nbytes()), 0) << "1 and 3 threads differ";
      double e = rel_error(got1, want);
      worst = std::max(worst, e);
      EXPECT_LE(e, want.dtype() == DType::kF16 ? 1e-3 : 2e-5);
    }
    // g_idx (deprecated reordering) is left to the reference kernel, except the trivial k / block_size.
    std::mt19937 rng(9);
    NbitsCase g = make_nbits_case(3, 17, 100, 32, Zp::kPacked, false, false, true, rng);
    EXPECT_FALSE(k->accepts && k->accepts(query_of(g))) << k->name << " should refuse g_idx";
    for (int64_t j = 0; j < 100; ++j) g.inputs[4].data<int32_t>()[j] = static_cast<int32_t>(j / 32);
    EXPECT_TRUE(!k->accepts || k->accepts(query_of(g))) << k->name << " should take the trivial g_idx";
    std::printf("[ int4 ] %s: %d cases, worst rel. error %.2g\n", k->name.c_str(), accepted, worst);
  }
  if (fast == 0) GTEST_SKIP() << "no fast MatMulNBits kernel in this build (JOULE_SIMD=OFF)";
  if (ran == 0) GTEST_SKIP() << "no fast MatMulNBits kernel runs on this CPU (needs AVX2)";
}

// accuracy_level 4: the AVX2 GEMM path quantizes A per row and block to int8 (round to nearest even,
// scale max|a| / 127) and sums u8 x s8 products exactly; checked against that simulation in double, and
// loosely against the float reference.
TEST(MatMulNBits, Int8ActivationPathMatchesSimulation) {
  const KernelDef* ref = KernelRegistry::builtin().reference("com.microsoft", "MatMulNBits");
  const KernelDef* fast = nullptr;
  for (const KernelDef* k : KernelRegistry::builtin().all())
    if (k->op_type == "MatMulNBits" && k->name == "matmul_nbits_f32__avx2") fast = k;
  if (!fast) GTEST_SKIP() << "built without SIMD kernels";
  if (max_isa() < Isa::kAvx2) GTEST_SKIP() << "needs AVX2, this CPU (or JOULE_ISA) allows " << isa_name(max_isa());
  std::mt19937 rng(11);
  ThreadPool pool1(1), pool2(2), pool3(3);
  // {M, N, K, block}: tiles of 4 rows with 1-3 left over, N below / above / not a multiple of 16, K a multiple
  // of the block and not (padded), every block size (16: one 16-k dot, 32: one dot, 64+: int32 over dots).
  const int64_t shapes[][4] = {{4, 17, 100, 32},   {17, 255, 255, 64}, {40, 33, 1023, 128}, {5, 16, 512, 256},
                               {9, 3, 48, 16},     {255, 1023, 96, 32}, {255, 17, 130, 64}, {17, 1023, 256, 256},
                               {17, 1, 200, 128},  {6, 3, 33, 16},     {255, 3, 1023, 32}};
  // Tile variants this CPU runs: the wide AVX-512 VNNI 8x16 tile (default with VNNI), the 4x16 tile with
  // vpdpbusd (JOULE_NBITS_Q8_TILE=4x16) and the AVX2 4x16 tile (JOULE_ISA=avx2); all must agree bitwise.
  struct Variant {
    const char* name;
    const char* isa;
    const char* tile;
  };
  std::vector<Variant> variants = {{"avx2 4x16", "avx2", nullptr}};
  if (max_isa() >= Isa::kAvx512Vnni) {
    variants.push_back({"avx512vnni 4x16", nullptr, "4x16"});
    variants.push_back({"avx512vnni wide 8x16", nullptr, nullptr});
  } else {
    std::printf("[ int4 ] SKIP the AVX-512 VNNI tiles in the int8-activation path: this CPU (or JOULE_ISA) allows %s\n",
                std::string(isa_name(max_isa())).c_str());
  }
  int i = 0;
  for (auto& sh : shapes)
  for (int half_zero = 0; half_zero < 2; ++half_zero) {
    Zp zp = i % 3 == 0 ? Zp::kNone : i % 3 == 1 ? Zp::kPacked : Zp::kFloat;
    if (half_zero && zp != Zp::kFloat) continue;
    NbitsCase c = make_nbits_case(sh[0], sh[1], sh[2], sh[3], zp, i == 4, i % 2 == 0, false, rng);
    if (!half_zero) ++i;
    if (half_zero) {  // non-integer zero points: the wide tile cannot take them (falls back to 4x16)
      Tensor& z = c.inputs[3];
      for (int64_t j = 0; j < z.numel(); ++j) {
        const float zz = at(z, j) + 0.5f;
        if (z.dtype() == DType::kF16) z.data<Half>()[j] = Half(zz);
        else z.data<float>()[j] = zz;
      }
      const int64_t n = sh[1], k = sh[2], kb = (k + sh[3] - 1) / sh[3];
      for (int64_t r = 0; r < n; ++r)
        for (int64_t j = 0; j < k; ++j)
          c.w[static_cast<size_t>(r * k + j)] -= 0.5f * at(c.inputs[2], r * kb + j / sh[3]);
      c.what += " (zero + 0.5)";
    }
    c.node->attrs["accuracy_level"] = ir::Attribute::of_int(4);
    Tensor first;
    for (const Variant& v : variants) {
    EnvGuard isa_env("JOULE_ISA", v.isa ? v.isa : std::getenv("JOULE_ISA"));
    EnvGuard tile_env("JOULE_NBITS_Q8_TILE", v.tile);
    SCOPED_TRACE(c.what + " " + v.name);
    Tensor got1, got2, got3, want;
    ASSERT_TRUE(run_kernel(*fast, c, &pool1, got1).is_ok());
    ASSERT_TRUE(run_kernel(*fast, c, &pool2, got2).is_ok());
    ASSERT_TRUE(run_kernel(*fast, c, &pool3, got3).is_ok());
    EXPECT_EQ(std::memcmp(got1.raw(), got2.raw(), got1.nbytes()), 0) << "1 and 2 threads differ";
    EXPECT_EQ(std::memcmp(got1.raw(), got3.raw(), got1.nbytes()), 0) << "1 and 3 threads differ";
    ASSERT_TRUE(run_kernel(*ref, c, nullptr, want).is_ok());
    // Simulation.
    const int64_t m = sh[0], n = sh[1], k = sh[2], block = sh[3], kb = (k + block - 1) / block;
    Tensor sim(c.out_dtype, {m, n});
    std::vector<float> aq(static_cast<size_t>(k)), sa(static_cast<size_t>(kb));
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t b = 0; b < kb; ++b) {
        float amax = 0;
        for (int64_t j = b * block; j < std::min(k, (b + 1) * block); ++j) amax = std::max(amax, std::fabs(at(c.inputs[0], r * k + j)));
        const float inv = amax > 0 ? 127.0f / amax : 0.0f;
        sa[static_cast<size_t>(b)] = amax / 127.0f;
        for (int64_t j = b * block; j < std::min(k, (b + 1) * block); ++j)
          aq[static_cast<size_t>(j)] = std::nearbyint(at(c.inputs[0], r * k + j) * inv);
      }
      for (int64_t col = 0; col < n; ++col) {
        double acc = c.inputs.size() > 5 ? at(c.inputs[5], col) : 0.0;
        for (int64_t j = 0; j < k; ++j)
          acc += double(sa[static_cast<size_t>(j / block)]) * aq[static_cast<size_t>(j)] * c.w[static_cast<size_t>(col * k + j)];
        if (c.out_dtype == DType::kF16) sim.data<Half>()[r * n + col] = Half(static_cast<float>(acc));
        else sim.data<float>()[r * n + col] = static_cast<float>(acc);
      }
    }
    EXPECT_LE(rel_error(got1, sim), c.out_dtype == DType::kF16 ? 1e-3 : 1e-5);
    EXPECT_LE(rel_error(got1, want), 0.05) << "int8 activations drift too far from the float reference";
    if (!first.defined()) first = got1;
    else EXPECT_EQ(std::memcmp(first.raw(), got1.raw(), got1.nbytes()), 0) << v.name << " differs from " << variants[0].name;
    }
  }
}

// The VNNI tiles (vpdpbusd) give the same int32 sums as the AVX2 tile (vpmaddubsw + vpmaddwd) and share the
// float epilogue, so their outputs must be bitwise equal; skipped on CPUs without AVX-VNNI / AVX-512 VNNI.
TEST(MatMulNBits, VnniTilesMatchAvx2Tile) {
#if !JOULE_WITH_SIMD
  GTEST_SKIP() << "built without SIMD kernels (JOULE_SIMD=OFF)";
#else
  const KernelDef* fast = nullptr;
  for (const KernelDef* k : KernelRegistry::builtin().all())
    if (k->op_type == "MatMulNBits" && k->name == "matmul_nbits_f32__avx2") fast = k;
  if (!fast) GTEST_SKIP() << "built without SIMD kernels";
  const CpuFeatures& f = cpu_features();
  const bool avxvnni = f.avxvnni && max_isa() >= Isa::kAvx2, avx512vnni = max_isa() >= Isa::kAvx512Vnni;
  if (!avxvnni && !avx512vnni)
    GTEST_SKIP() << "no AVX-VNNI / AVX-512 VNNI on this CPU (or JOULE_ISA=" << isa_name(max_isa())
                 << "): the vpdpbusd tiles compile but cannot run here";
  std::mt19937 rng(12);
  for (int64_t block : {16, 32, 64, 256}) {
    NbitsCase c = make_nbits_case(7, 40, 300, block, block == 64 ? Zp::kPacked : Zp::kNone, false, false, false, rng);
    SCOPED_TRACE(c.what);
    std::shared_ptr<const void> state;
    ASSERT_TRUE(fast->prepare(query_of(c), state).is_ok());
    const auto& w = *static_cast<const cpu::Int4Panels*>(state.get());
    const int64_t m = 7;
    std::vector<int8_t> aq(static_cast<size_t>(m * w.k_pad));
    std::vector<float> sa(static_cast<size_t>(m * w.k_blocks)), asum(sa.size());
    cpu::matmul_nbits_quantize_rows_q8__avx2(c.inputs[0].data<float>(), w.k, w.block, w.k_blocks, w.k_pad, 0, m, aq.data(),
                                             sa.data(), asum.data());
    std::vector<uint8_t> wq(static_cast<size_t>(w.k_pad * 16));
    for (int64_t p = 0; p < w.panels; ++p) {
      cpu::matmul_nbits_unpack_panel_u8__avx2(w, p, wq.data());
      for (int64_t i0 = 0; i0 < m; i0 += cpu::kNbitsQ8Rows) {
        const int64_t mr = std::min(cpu::kNbitsQ8Rows, m - i0);
        float want[64], got[64];
        cpu::matmul_nbits_q8_tile__avx2(w, p, wq.data(), aq.data() + i0 * w.k_pad, w.k_pad, sa.data() + i0 * w.k_blocks,
                                        asum.data() + i0 * w.k_blocks, mr, want);
        if (avxvnni) {
          cpu::matmul_nbits_q8_tile__avxvnni(w, p, wq.data(), aq.data() + i0 * w.k_pad, w.k_pad, sa.data() + i0 * w.k_blocks,
                                             asum.data() + i0 * w.k_blocks, mr, got);
          EXPECT_EQ(std::memcmp(want, got, sizeof(float) * 16 * mr), 0) << "avxvnni tile, panel " << p << " row " << i0;
        }
        if (avx512vnni) {
          cpu::matmul_nbits_q8_tile__avx512vnni(w, p, wq.data(), aq.data() + i0 * w.k_pad, w.k_pad,
                                                sa.data() + i0 * w.k_blocks, asum.data() + i0 * w.k_blocks, mr, got);
          EXPECT_EQ(std::memcmp(want, got, sizeof(float) * 16 * mr), 0) << "avx512vnni tile, panel " << p << " row " << i0;
        }
      }
    }
  }
#endif
}

// The wide AVX-512 VNNI tiles (8x16 and two-panel 6x32, s8 weights x u8 activations, zero points folded into
// the start value) against the AVX2 4x16 tile, bitwise, on odd shapes: every row count 1..8, K a multiple of the block and not,
// blocks 16-256, symmetric / packed u8 / integer float zero points.
TEST(MatMulNBits, WideVnniTileMatchesAvx2Tile) {
#if !JOULE_WITH_SIMD
  GTEST_SKIP() << "built without SIMD kernels (JOULE_SIMD=OFF)";
#else
  const KernelDef* fast = nullptr;
  for (const KernelDef* k : KernelRegistry::builtin().all())
    if (k->op_type == "MatMulNBits" && k->name == "matmul_nbits_f32__avx2") fast = k;
  if (!fast) GTEST_SKIP() << "built without SIMD kernels";
  if (max_isa() < Isa::kAvx512Vnni)
    GTEST_SKIP() << "no AVX-512 VNNI on this CPU (or JOULE_ISA=" << isa_name(max_isa()) << "): the wide tile cannot run here";
  std::mt19937 rng(13);
  // {M, N, K, block}
  const int64_t shapes[][4] = {{1, 1, 32, 32},    {3, 17, 100, 32},  {8, 33, 255, 64},  {17, 255, 1023, 128},
                               {15, 16, 513, 256}, {9, 40, 48, 16},   {23, 1, 130, 16},  {255, 17, 384, 32},
                               {7, 3, 1023, 256}, {16, 64, 1536, 32}};
  int i = 0, tiles = 0;
  for (auto& sh : shapes) {
    const Zp zp = i % 3 == 0 ? Zp::kNone : i % 3 == 1 ? Zp::kPacked : Zp::kFloat;
    ++i;
    NbitsCase c = make_nbits_case(sh[0], sh[1], sh[2], sh[3], zp, false, false, false, rng);
    SCOPED_TRACE(c.what);
    std::shared_ptr<const void> state;
    ASSERT_TRUE(fast->prepare(query_of(c), state).is_ok());
    const auto& w = *static_cast<const cpu::Int4Panels*>(state.get());
    ASSERT_TRUE(w.int_zeros);
    EXPECT_TRUE(cpu::matmul_nbits_q8_wide_for_cpu(w));
    const int64_t m = sh[0];
    std::vector<int8_t> aq(static_cast<size_t>(m * w.k_pad)), au(aq.size());
    std::vector<float> sa(static_cast<size_t>(m * w.k_blocks)), asum(sa.size()), sa2(sa.size()), asum2(sa.size());
    cpu::matmul_nbits_quantize_rows_q8__avx2(c.inputs[0].data<float>(), w.k, w.block, w.k_blocks, w.k_pad, 0, m, aq.data(),
                                             sa.data(), asum.data());
    cpu::matmul_nbits_quantize_rows_q8__avx2(c.inputs[0].data<float>(), w.k, w.block, w.k_blocks, w.k_pad, 0, m, au.data(),
                                             sa2.data(), asum2.data(), true);
    for (size_t j = 0; j < aq.size(); ++j)
      ASSERT_EQ(static_cast<int>(static_cast<uint8_t>(au[j])), aq[j] + 128) << "offset activations at " << j;
    std::vector<uint8_t> wq(static_cast<size_t>(w.k_pad * 16));
    std::vector<int8_t> ws(wq.size());
    for (int64_t p = 0; p < w.panels; ++p) {
      cpu::matmul_nbits_unpack_panel_u8__avx2(w, p, wq.data());
      cpu::matmul_nbits_unpack_panel_s8__avx512vnni(w, p, ws.data());
      for (int64_t i0 = 0; i0 < m; i0 += cpu::kNbitsQ8WideRows) {
        const int64_t mr = std::min(cpu::kNbitsQ8WideRows, m - i0);
        float want[8 * 16], got[8 * 16];
        for (int64_t j0 = 0; j0 < mr; j0 += cpu::kNbitsQ8Rows)
          cpu::matmul_nbits_q8_tile__avx2(w, p, wq.data(), aq.data() + (i0 + j0) * w.k_pad, w.k_pad,
                                          sa.data() + (i0 + j0) * w.k_blocks, asum.data() + (i0 + j0) * w.k_blocks,
                                          std::min(cpu::kNbitsQ8Rows, mr - j0), want + j0 * 16);
        cpu::matmul_nbits_q8_wide_tile__avx512vnni(w, p, ws.data(), reinterpret_cast<const uint8_t*>(au.data()) + i0 * w.k_pad,
                                                   w.k_pad, sa.data() + i0 * w.k_blocks, mr, got);
        EXPECT_EQ(std::memcmp(want, got, sizeof(float) * 16 * mr), 0) << "panel " << p << " rows " << i0 << "+" << mr;
        ++tiles;
      }
    }
    // The two-panel 6x32 tile against the same AVX2 tiles.
    std::vector<int8_t> ws2(2 * ws.size());
    for (int64_t p = 0; p + 1 < w.panels; p += 2) {
      cpu::matmul_nbits_unpack_panel_s8__avx512vnni(w, p, ws2.data());
      cpu::matmul_nbits_unpack_panel_s8__avx512vnni(w, p + 1, ws2.data() + w.k_pad * 16);
      for (int64_t i0 = 0; i0 < m; i0 += cpu::kNbitsQ8Wide2Rows) {
        const int64_t mr = std::min(cpu::kNbitsQ8Wide2Rows, m - i0);
        float got[6 * 32];
        cpu::matmul_nbits_q8_wide2_tile__avx512vnni(w, p, ws2.data(), reinterpret_cast<const uint8_t*>(au.data()) + i0 * w.k_pad,
                                                    w.k_pad, sa.data() + i0 * w.k_blocks, mr, got);
        for (int64_t h = 0; h < 2; ++h) {
          cpu::matmul_nbits_unpack_panel_u8__avx2(w, p + h, wq.data());
          for (int64_t j0 = 0; j0 < mr; j0 += cpu::kNbitsQ8Rows) {
            float want[4 * 16];
            const int64_t jr = std::min(cpu::kNbitsQ8Rows, mr - j0);
            cpu::matmul_nbits_q8_tile__avx2(w, p + h, wq.data(), aq.data() + (i0 + j0) * w.k_pad, w.k_pad,
                                            sa.data() + (i0 + j0) * w.k_blocks, asum.data() + (i0 + j0) * w.k_blocks, jr, want);
            for (int64_t r = 0; r < jr; ++r)
              EXPECT_EQ(std::memcmp(want + r * 16, got + (j0 + r) * 32 + h * 16, sizeof(float) * 16), 0)
                  << "6x32 tile, panel " << p + h << " row " << i0 + j0 + r;
          }
        }
        ++tiles;
      }
    }
  }
  std::printf("[ int4 ] wide VNNI tile: %d tiles bitwise equal to the AVX2 tile\n", tiles);
#endif
}
