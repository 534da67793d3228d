// CUDA quantized kernels vs the CPU reference: QLinearMatMul and MatMulInteger on the tensor-core INT8 GEMM
// (bit-exact), com.microsoft MatMulNBits on the INT4 weight-only GEMV (float bound), and the INT8 GEMM's
// bias + ReLU epilogue through its launcher against a host computation. Odd shapes (1, 3, 17, 255, 1023).
#include <gtest/gtest.h>

#include "tests/cuda/cuda_oracle.h"

#ifdef JOULE_WITH_CUDA

#include "kernels/cuda/cuda_launch.h"

namespace joule::cuda_test {
namespace {

std::string dn(DType t) { return std::string(dtype_name(t)); }

const int64_t kMkn[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 255, 33}, {1, 1023, 255}, {255, 3, 17}, {65, 64, 130}, {3, 48, 1023}};

Tensor scalar_of(DType t, double v) {
  switch (t) {
    case DType::kU8: return Tensor::scalar<uint8_t>(static_cast<uint8_t>(v));
    case DType::kI8: return Tensor::scalar<int8_t>(static_cast<int8_t>(v));
    default: return Tensor::scalar<float>(static_cast<float>(v));
  }
}

std::vector<CudaCase> qlinear_matmul_cases() {
  std::mt19937 rng(21);
  std::vector<CudaCase> cases;
  struct Types { DType a, b, y; int64_t b_zp; };
  const Types types[] = {{DType::kU8, DType::kI8, DType::kU8, 0}, {DType::kI8, DType::kI8, DType::kI8, 3},
                         {DType::kU8, DType::kU8, DType::kU8, 128}};
  for (const Types& ty : types)
    for (auto& d : kMkn)
      for (bool per_column : {false, true}) {
        const int64_t m = d[0], k = d[1], n = d[2];
        const bool a_u8 = ty.a == DType::kU8, b_u8 = ty.b == DType::kU8;
        Tensor a = random_tensor(ty.a, m == 65 ? Shape{5, 13, k} : Shape{m, k}, rng, a_u8 ? 0 : -128, a_u8 ? 255 : 127);
        // B - b_zero_point must fit int8 for the MMA kernel (it does for every real quantizer's output).
        Tensor b = random_tensor(ty.b, {k, n}, rng, b_u8 ? 1 : -128 + ty.b_zp, b_u8 ? 255 : 127);
        Tensor b_scale = per_column ? random_tensor(DType::kF32, {n}, rng, 0.001, 0.01) : Tensor::scalar<float>(0.004f);
        Tensor b_zp = per_column && ty.b == DType::kI8 ? random_tensor(DType::kI8, {n}, rng, 0, 0) : scalar_of(ty.b, double(ty.b_zp));
        // y_scale so that outputs spread over the int8 range (some saturate).
        const float y_scale = 0.02f * 0.004f * 0.5f * static_cast<float>(std::sqrt(static_cast<double>(k))) * 256.f;
        CudaCase c = make_case("QLinearMatMul",
                               {a, Tensor::scalar<float>(0.02f), scalar_of(ty.a, a_u8 ? 131 : -3), b, b_scale, b_zp,
                                Tensor::scalar<float>(y_scale), scalar_of(ty.y, ty.y == DType::kU8 ? 121 : 5)},
                               {false, true, true, true, true, true, true, true},
                               std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) + " " + dn(ty.a) + "*" +
                                   dn(ty.b) + "->" + dn(ty.y) + (per_column ? " per-column" : ""));
        c.kernel_prefix = "qlinear_matmul_s8_mma";
        cases.push_back(std::move(c));
      }
  return cases;
}

std::vector<CudaCase> matmul_integer_cases() {
  std::mt19937 rng(22);
  std::vector<CudaCase> cases;
  for (auto& d : kMkn)
    for (DType at : {DType::kU8, DType::kI8}) {
      const int64_t m = d[0], k = d[1], n = d[2];
      Tensor a = random_tensor(at, {m, k}, rng, at == DType::kU8 ? 0 : -128, at == DType::kU8 ? 255 : 127);
      Tensor b = random_tensor(DType::kI8, {k, n}, rng, -128, 127);
      CudaCase c = make_case("MatMulInteger", {a, b, scalar_of(at, at == DType::kU8 ? 7 : -2)}, {false, true, true},
                             std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) + " " + dn(at));
      c.kernel_prefix = "matmul_integer_s8_mma";
      cases.push_back(std::move(c));
    }
  return cases;
}

// MatMulNBits, 4 bits: B u8 [N, k_blocks, block/2], scales [N * k_blocks], optional packed zero points and bias.
std::vector<CudaCase> matmul_nbits_cases() {
  std::mt19937 rng(23);
  std::vector<CudaCase> cases;
  struct S { int64_t m, k, n, block; };
  const S shapes[] = {{1, 17, 3, 16}, {1, 255, 17, 32}, {3, 1023, 17, 128}, {1, 64, 255, 64}, {17, 33, 1, 16}};
  for (DType t : {DType::kF32, DType::kF16})
    for (const S& s : shapes)
      for (int variant = 0; variant < 3; ++variant) {  // 0: default zero point 8; 1: packed u8 zero points; 2: + bias
        const int64_t kb = (s.k + s.block - 1) / s.block;
        Tensor a = random_tensor(t, {s.m, s.k}, rng);
        Tensor b = random_tensor(DType::kU8, {s.n, kb, s.block / 2}, rng, 0, 255);
        Tensor scales = random_tensor(t, {s.n * kb}, rng, 0.01, 0.1);
        std::vector<Tensor> in = {a, b, scales};
        if (variant >= 1) in.push_back(random_tensor(DType::kU8, {s.n * ((kb + 1) / 2)}, rng, 0, 255));
        if (variant == 2) {
          in.push_back(Tensor());  // g_idx omitted
          in.push_back(random_tensor(t, {s.n}, rng));
        }
        CudaCase c = make_case("MatMulNBits", in, {false, true, true, true, true, true},
                               std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n) + " block " +
                                   std::to_string(s.block) + " variant " + std::to_string(variant) + " " + dn(t),
                               1, "com.microsoft");
        c.node->attrs["K"] = ir::Attribute::of_int(s.k);
        c.node->attrs["N"] = ir::Attribute::of_int(s.n);
        c.node->attrs["bits"] = ir::Attribute::of_int(4);
        c.node->attrs["block_size"] = ir::Attribute::of_int(s.block);
        c.rtol = t == DType::kF16 ? 3e-3 : 2e-5;
        c.atol = t == DType::kF16 ? 2e-3 : 1e-5;
        c.kernel_prefix = "matmul_nbits_q4_gemv";
        cases.push_back(std::move(c));
      }
  return cases;
}

// Per-tensor QuantizeLinear (f32/f16 -> u8/s8, bit-exact) and DequantizeLinear (u8/s8 -> f32, exact).
std::vector<CudaCase> qdq_cases() {
  std::mt19937 rng(25);
  std::vector<CudaCase> cases;
  for (const Shape& s : {Shape{1}, Shape{3, 17}, Shape{255, 1023}})
    for (DType q : {DType::kU8, DType::kI8}) {
      const double zp = q == DType::kU8 ? 131 : -5;
      for (DType t : {DType::kF32, DType::kF16}) {
        CudaCase c = make_case("QuantizeLinear", {random_tensor(t, s, rng, -3, 3), Tensor::scalar<float>(0.0137f), scalar_of(q, zp)},
                               {false, true, true}, shape_to_string(s) + " " + dn(t) + "->" + dn(q), 13);
        c.kernel_prefix = "quantize_linear_per_tensor";
        cases.push_back(std::move(c));
      }
      CudaCase d = make_case("DequantizeLinear",
                             {random_tensor(q, s, rng, q == DType::kU8 ? 0 : -128, q == DType::kU8 ? 255 : 127),
                              Tensor::scalar<float>(0.0137f), scalar_of(q, zp)},
                             {false, true, true}, shape_to_string(s) + " " + dn(q) + "->float32", 13);
      d.rtol = 0;
      d.atol = 0;
      d.kernel_prefix = "dequantize_linear_per_tensor";
      cases.push_back(std::move(d));
    }
  return cases;
}

TEST(CudaQuantKernels, EveryCaseHasACudaKernelWithoutDevice) {
  check_cases_without_device(qlinear_matmul_cases());
  check_cases_without_device(matmul_integer_cases());
  check_cases_without_device(qdq_cases());
  if (!kernels::KernelRegistry::builtin().reference("com.microsoft", "MatMulNBits"))
    GTEST_SKIP() << "no MatMulNBits reference kernel in this tree";
  check_cases_without_device(matmul_nbits_cases());
}

#define JOULE_CUDA_CONTEXT(ctx)                                 \
  JOULE_SKIP_WITHOUT_CUDA_DEVICE();                             \
  std::string why_;                                             \
  kernels::cuda::CudaContext* ctx = shared_context(why_);       \
  ASSERT_NE(ctx, nullptr) << "device present but the context failed: " << why_

TEST(CudaQuantKernels, QLinearMatMulMmaIsBitExact) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(qlinear_matmul_cases(), *ctx);
}

TEST(CudaQuantKernels, MatMulIntegerMmaIsBitExact) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(matmul_integer_cases(), *ctx);
}

TEST(CudaQuantKernels, QuantizeDequantizeLinearMatchReference) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(qdq_cases(), *ctx);
}

TEST(CudaQuantKernels, MatMulNBitsGemvMatchesReference) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(matmul_nbits_cases(), *ctx);
}

// The fused epilogue the graph ops do not all use: int32 bias per column, requantize, ReLU, s8 output;
// A with a row stride larger than K (unaligned: the byte-load path).
TEST(CudaQuantKernels, GemmS8EpilogueBiasReluMatchesHost) {
  JOULE_CUDA_CONTEXT(ctx);
  std::mt19937 rng(24);
  for (auto& d : kMkn) {
    const int64_t m = d[0], k = d[1], n = d[2], lda = k + 3, k_pad = (k + 31) / 32 * 32;
    Tensor a = random_tensor(DType::kI8, {m, lda}, rng, -128, 127);
    Tensor bt(DType::kI8, {n, k_pad});  // zero padding past k
    Tensor bsrc = random_tensor(DType::kI8, {n, k}, rng, -128, 127);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) bt.data<int8_t>()[j * k_pad + p] = bsrc.data<int8_t>()[j * k + p];
    Tensor bias = random_tensor(DType::kI32, {n}, rng, -5000, 5000);
    Tensor mult = random_tensor(DType::kF32, {n}, rng, 1e-4, 1e-3);
    const int32_t zp = -7;
    Tensor expect(DType::kI8, {m, n});
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        int64_t acc = bias.data<int32_t>()[j];
        for (int64_t p = 0; p < k; ++p) acc += int64_t{a.data<int8_t>()[i * lda + p]} * bsrc.data<int8_t>()[j * k + p];
        double q = std::nearbyint(static_cast<double>(static_cast<int32_t>(acc)) * static_cast<double>(mult.data<float>()[j])) + zp;
        q = std::clamp(q, double(zp), 127.0);  // ReLU: q >= zero point
        expect.data<int8_t>()[i * n + j] = static_cast<int8_t>(q);
      }
    Tensor da, dbt, dbias, dmult, dy;
    ASSERT_TRUE(kernels::cuda::upload(a, da).is_ok());
    ASSERT_TRUE(kernels::cuda::upload(bt, dbt).is_ok());
    ASSERT_TRUE(kernels::cuda::upload(bias, dbias).is_ok());
    ASSERT_TRUE(kernels::cuda::upload(mult, dmult).is_ok());
    ASSERT_TRUE(kernels::cuda::device_tensor(DType::kI8, {m, n}, dy).is_ok());
    ASSERT_TRUE(kernels::cuda::fill_device_bytes(dy.raw(), 0xFF, dy.nbytes(), nullptr).is_ok());
    kernels::cuda::GemmS8Params p;
    p.a = da.raw();
    p.a_signed = true;
    p.m = m;
    p.n = n;
    p.k = k;
    p.lda = lda;
    p.bt = static_cast<const int8_t*>(dbt.raw());
    p.k_pad = k_pad;
    p.col_offset = static_cast<const int32_t*>(dbias.raw());
    p.multiplier = static_cast<const float*>(dmult.raw());
    p.y_zero_point = zp;
    p.y_signed = true;
    p.relu = true;
    p.y = dy.raw();
    Status st = kernels::cuda::launch_gemm_s8_mma(p, ctx->stream);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_TRUE((st = ctx->synchronize()).is_ok()) << st.message();
    Tensor got;
    ASSERT_TRUE(kernels::cuda::download(dy, got).is_ok());
    compare_outputs(expect, got, 0, 0, "gemm_s8 bias+relu " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n));
  }
}

}  // namespace
}  // namespace joule::cuda_test

#else

TEST(CudaQuantKernels, SkippedWithoutCuda) { GTEST_SKIP() << "joule was built without CUDA (JOULE_CUDA=OFF or no toolkit)"; }

#endif  // JOULE_WITH_CUDA
