// CUDA float kernels (elementwise, cuBLAS MatMul/Gemm, Softmax, LayerNormalization, Transpose, pooling) vs
// the CPU reference kernels, f32 and f16, on seeded random data with odd shapes. Skips without a device.
#include <gtest/gtest.h>

#include "tests/cuda/cuda_oracle.h"

#ifdef JOULE_WITH_CUDA

namespace joule::cuda_test {
namespace {

std::string dn(DType t) { return std::string(dtype_name(t)); }

// Bounds relative to max|reference|: f32 math differs from the reference's (double or libm) in the last
// bits; f16 outputs are rounded to 11 bits.
void set_tolerance(CudaCase& c, DType t, double f32_rtol = 2e-5) {
  c.rtol = t == DType::kF16 ? 2e-3 : f32_rtol;
  c.atol = t == DType::kF16 ? 1e-3 : 1e-6;
}

CudaCase& with_prefix(CudaCase& c, const std::string& prefix) {
  c.kernel_prefix = prefix;
  return c;
}

const Shape kShapes[] = {{1}, {3}, {17}, {3, 17}, {255, 1023}};

std::vector<CudaCase> UnaryActivations_cases() {
  std::vector<CudaCase> cases;
  std::mt19937 rng(11);
  for (DType t : {DType::kF32, DType::kF16})
    for (const Shape& s : kShapes) {
      for (const char* op : {"Relu", "Sigmoid", "Tanh", "Erf", "Neg", "Abs", "Exp", "Floor", "Ceil", "LeakyRelu"}) {
        CudaCase c = make_case(op, {random_tensor(t, s, rng, -3, 3)}, {}, shape_to_string(s) + " " + dn(t));
        set_tolerance(c, t);
        cases.push_back(std::move(with_prefix(c, "unary_")));
      }
      for (const char* op : {"Log", "Sqrt", "Reciprocal"}) {
        CudaCase c = make_case(op, {random_tensor(t, s, rng, 0.25, 4)}, {}, shape_to_string(s) + " " + dn(t));
        set_tolerance(c, t);
        cases.push_back(std::move(with_prefix(c, "unary_")));
      }
      for (const char* approx : {"none", "tanh"}) {
        CudaCase c = make_case("Gelu", {random_tensor(t, s, rng, -3, 3)}, {}, std::string(approx) + " " + dn(t), 20);
        c.node->attrs["approximate"] = ir::Attribute::of_string(approx);
        set_tolerance(c, t);
        cases.push_back(std::move(with_prefix(c, "unary_")));
      }
      Tensor lo = t == DType::kF32 ? Tensor::scalar<float>(-0.5f) : Tensor::scalar<Half>(Half(-0.5f));
      Tensor hi = t == DType::kF32 ? Tensor::scalar<float>(0.75f) : Tensor::scalar<Half>(Half(0.75f));
      CudaCase clip = make_case("Clip", {random_tensor(t, s, rng), lo, hi}, {false, true, true}, "min/max inputs", 13);
      set_tolerance(clip, t);
      cases.push_back(std::move(with_prefix(clip, "unary_")));
    }
  return cases;
}

std::vector<CudaCase> BinaryBroadcast_cases() {
  std::vector<CudaCase> cases;
  std::mt19937 rng(12);
  const std::pair<Shape, Shape> shapes[] = {{{1}, {1}},         {{3, 17}, {17}},         {{255, 1, 17}, {1, 3, 1}},
                                            {{1}, {1023}},      {{2, 3, 5, 7}, {3, 1, 7}}, {{255, 1023}, {255, 1023}},
                                            {{17, 1}, {1, 255}}};
  for (DType t : {DType::kF32, DType::kF16})
    for (auto& [sa, sb] : shapes)
      for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"}) {
        const bool positive = std::string(op) == "Pow" || std::string(op) == "Div";
        CudaCase c = make_case(op, {random_tensor(t, sa, rng, positive ? 0.5 : -1, 1.5), random_tensor(t, sb, rng, positive ? 0.5 : -1, 1.5)},
                               {}, shape_to_string(sa) + " . " + shape_to_string(sb) + " " + dn(t));
        set_tolerance(c, t);
        cases.push_back(std::move(with_prefix(c, "binary_bcast_")));
      }
  return cases;
}

void relu_ref(Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (t.dtype() == DType::kF32) t.data<float>()[i] = std::max(t.data<float>()[i], 0.f);
    else t.data<Half>()[i] = Half(std::max(static_cast<float>(t.data<Half>()[i]), 0.f));
  }
}

std::vector<CudaCase> MatMulCublas_cases() {
  std::vector<CudaCase> cases;
  std::mt19937 rng(13);
  const int64_t mkn[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 255, 33}, {1, 1023, 255}, {255, 3, 17}, {64, 128, 96}};
  for (DType t : {DType::kF32, DType::kF16}) {
    for (auto& d : mkn) {
      CudaCase c = make_case("MatMul", {random_tensor(t, {d[0], d[1]}, rng), random_tensor(t, {d[1], d[2]}, rng)}, {false, true},
                             std::to_string(d[0]) + "x" + std::to_string(d[1]) + "x" + std::to_string(d[2]) + " " + dn(t));
      set_tolerance(c, t, 1e-5);
      cases.push_back(std::move(with_prefix(c, "matmul_")));
    }
    const std::pair<Shape, Shape> batched[] = {{{4, 7, 13}, {13, 9}}, {{1, 3}, {5, 3, 17}}, {{3, 5, 17}, {3, 17, 4}},
                                               {{17}, {17, 3}},        {{2, 5, 17}, {17}},   {{2, 3, 17, 19}, {1, 1, 19, 5}}};
    for (auto& [sa, sb] : batched) {
      CudaCase c = make_case("MatMul", {random_tensor(t, sa, rng), random_tensor(t, sb, rng)}, {},
                             shape_to_string(sa) + " x " + shape_to_string(sb) + " " + dn(t));
      set_tolerance(c, t, 1e-5);
      cases.push_back(std::move(with_prefix(c, "matmul_")));
    }
    CudaCase c = make_case("MatMul", {random_tensor(t, {17, 33}, rng), random_tensor(t, {33, 20}, rng)}, {false, true}, "fused Relu");
    c.node->attrs["joule.activation"] = ir::Attribute::of_string("Relu");
    c.post_ref = relu_ref;
    set_tolerance(c, t, 1e-5);
    cases.push_back(std::move(with_prefix(c, "matmul_")));
  }
  // joule.MatMulBias (made by runtime/passes/matmul_bias_fusion.cpp; its reference is float32 only).
  if (ops::OpRegistry::builtin().find("joule", "MatMulBias") && kernels::KernelRegistry::builtin().reference("joule", "MatMulBias"))
    for (int relu = 0; relu < 2; ++relu)
      for (auto& sa : {Shape{5, 7, 33}, Shape{1, 1023}, Shape{255, 17}}) {
        const int64_t k = sa.back(), n = relu ? 3 : 20;
        CudaCase c = make_case("MatMulBias",
                               {random_tensor(DType::kF32, sa, rng), random_tensor(DType::kF32, {k, n}, rng), random_tensor(DType::kF32, {n}, rng)},
                               {false, true, true}, shape_to_string(sa) + (relu ? " fused Relu" : ""), 17, "joule");
        if (relu) {
          c.node->attrs["joule.activation"] = ir::Attribute::of_string("Relu");
          c.post_ref = relu_ref;
        }
        set_tolerance(c, DType::kF32, 1e-5);
        cases.push_back(std::move(with_prefix(c, "matmul_bias_")));
      }
  return cases;
}

std::vector<CudaCase> GemmCublas_cases() {
  std::vector<CudaCase> cases;
  std::mt19937 rng(14);
  const int64_t mkn[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 255, 33}, {255, 3, 17}};
  for (DType t : {DType::kF32, DType::kF16})
    for (auto& d : mkn)
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
          for (int bias = 0; bias < 4; ++bias) {
            const int64_t m = d[0], k = d[1], n = d[2];
            Shape sa = ta ? Shape{k, m} : Shape{m, k}, sb = tb ? Shape{n, k} : Shape{k, n};
            Shape sc = bias == 1 ? Shape{n} : bias == 2 ? Shape{m, 1} : bias == 3 ? Shape{m, n} : Shape{};
            std::vector<Tensor> in = {random_tensor(t, sa, rng), random_tensor(t, sb, rng)};
            if (bias) in.push_back(random_tensor(t, sc, rng));
            CudaCase c = make_case("Gemm", in, {false, true, true},
                                   std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) + " tA" + std::to_string(ta) +
                                       " tB" + std::to_string(tb) + " C" + shape_to_string(sc) + " " + dn(t));
            c.node->attrs["transA"] = ir::Attribute::of_int(ta);
            c.node->attrs["transB"] = ir::Attribute::of_int(tb);
            c.node->attrs["alpha"] = ir::Attribute::of_float(0.5f);
            c.node->attrs["beta"] = ir::Attribute::of_float(2.0f);
            set_tolerance(c, t, 1e-5);
            cases.push_back(std::move(with_prefix(c, "gemm_")));
          }
  return cases;
}

std::vector<CudaCase> Softmax_cases() {
  std::vector<CudaCase> cases;
  std::mt19937 rng(15);
  struct S { Shape s; int64_t axis; int opset; };
  const S specs[] = {{{3, 17}, -1, 13}, {{1, 1023}, -1, 13}, {{3, 255, 5}, 1, 13}, {{17}, 0, 13}, {{3, 5, 17}, 1, 11}, {{2, 3, 255}, 2, 11}};
  for (DType t : {DType::kF32, DType::kF16})
    for (const S& sc : specs)
      for (const char* op : {"Softmax", "LogSoftmax"}) {
        CudaCase c = make_case(op, {random_tensor(t, sc.s, rng, -4, 4)}, {},
                               shape_to_string(sc.s) + " axis " + std::to_string(sc.axis) + " opset " + std::to_string(sc.opset) + " " + dn(t),
                               sc.opset);
        c.node->attrs["axis"] = ir::Attribute::of_int(sc.axis);
        set_tolerance(c, t, 1e-5);
        cases.push_back(std::move(with_prefix(c, std::string(op) == "Softmax" ? "softmax_" : "log_softmax_")));
      }
  return cases;
}

std::vector<CudaCase> LayerNormalization_cases() {
  std::vector<CudaCase> cases;
  std::mt19937 rng(16);
  struct S { Shape s; int64_t axis; };
  const S specs[] = {{{3, 17}, -1}, {{2, 3, 255}, -1}, {{3, 5, 17}, 1}, {{1, 1023}, -1}, {{17, 1}, 1}};
  for (DType t : {DType::kF32, DType::kF16})
    for (const S& sc : specs)
      for (bool bias : {false, true}) {
        const size_t ax = static_cast<size_t>(sc.axis < 0 ? sc.axis + static_cast<int64_t>(sc.s.size()) : sc.axis);
        Shape norm(sc.s.begin() + static_cast<std::ptrdiff_t>(ax), sc.s.end());
        std::vector<Tensor> in = {random_tensor(t, sc.s, rng, -2, 3), random_tensor(t, norm, rng, 0.5, 1.5)};
        if (bias) in.push_back(random_tensor(t, norm, rng));
        CudaCase c = make_case("LayerNormalization", in, {false, true, true},
                               shape_to_string(sc.s) + " axis " + std::to_string(sc.axis) + (bias ? " bias " : " ") + dn(t));
        c.node->attrs["axis"] = ir::Attribute::of_int(sc.axis);
        c.node->attrs["epsilon"] = ir::Attribute::of_float(1e-5f);
        set_tolerance(c, t, 3e-5);
        cases.push_back(std::move(with_prefix(c, "layer_norm_")));
      }
  return cases;
}

std::vector<CudaCase> Transpose_cases() {
  std::vector<CudaCase> cases;
  std::mt19937 rng(17);
  struct S { Shape s; std::vector<int64_t> perm; };
  const S specs[] = {{{3, 17, 5}, {2, 0, 1}}, {{1, 255, 3, 2}, {0, 2, 3, 1}}, {{17, 3}, {}}, {{1023}, {0}}, {{2, 3, 5, 7, 1, 3}, {5, 4, 3, 2, 1, 0}}};
  for (DType t : {DType::kF32, DType::kF16, DType::kI8, DType::kI64})
    for (const S& sc : specs) {
      CudaCase c = make_case("Transpose", {random_tensor(t, sc.s, rng, -100, 100)}, {}, shape_to_string(sc.s) + " " + dn(t));
      if (!sc.perm.empty()) c.node->attrs["perm"] = ir::Attribute::of_ints(sc.perm);
      cases.push_back(std::move(with_prefix(c, "transpose_")));
    }
  return cases;
}

std::vector<CudaCase> Pooling_cases() {
  std::vector<CudaCase> cases;
  std::mt19937 rng(18);
  struct S { const char* op; Shape s; std::vector<int64_t> k, strides, pads; int ceil; int include_pad; };
  const S specs[] = {
      {"MaxPool", {1, 3, 17, 17}, {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, 0},
      {"MaxPool", {2, 3, 17, 5}, {3, 3}, {2, 2}, {0, 0, 0, 0}, 1, 0},
      {"AveragePool", {1, 3, 17, 17}, {3, 3}, {1, 1}, {1, 1, 1, 1}, 0, 0},
      {"AveragePool", {1, 3, 17, 17}, {3, 3}, {2, 2}, {1, 1, 1, 1}, 1, 1},
      {"AveragePool", {2, 3, 255}, {5}, {3}, {2, 2}, 0, 1},
      {"MaxPool", {1, 1, 3, 17, 5}, {2, 3, 2}, {1, 2, 2}, {0, 1, 0, 0, 1, 1}, 0, 0},
  };
  for (DType t : {DType::kF32, DType::kF16}) {
    for (const S& sc : specs) {
      CudaCase c = make_case(sc.op, {random_tensor(t, sc.s, rng)}, {}, shape_to_string(sc.s) + " " + dn(t), 17);
      c.node->attrs["kernel_shape"] = ir::Attribute::of_ints(sc.k);
      c.node->attrs["strides"] = ir::Attribute::of_ints(sc.strides);
      c.node->attrs["pads"] = ir::Attribute::of_ints(sc.pads);
      c.node->attrs["ceil_mode"] = ir::Attribute::of_int(sc.ceil);
      if (std::string(sc.op) == "AveragePool") c.node->attrs["count_include_pad"] = ir::Attribute::of_int(sc.include_pad);
      set_tolerance(c, t);
      cases.push_back(std::move(with_prefix(c, std::string(sc.op) == "MaxPool" ? "max_pool_" : "average_pool_")));
    }
    for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"})
      for (Shape s : {Shape{1, 3, 17, 17}, Shape{2, 255, 1, 3}, Shape{3, 1, 1023}}) {
        CudaCase c = make_case(op, {random_tensor(t, s, rng)}, {}, shape_to_string(s) + " " + dn(t));
        set_tolerance(c, t);
        cases.push_back(std::move(with_prefix(c, "global_")));
      }
  }
  return cases;
}


bool has_cuda_conv() {
  for (const kernels::KernelDef* k : kernels::KernelRegistry::builtin().all())
    if (k->op_type == "Conv" && k->device == kernels::Device::kCuda) return true;
  return false;
}

// Conv through cuDNN (2-D, symmetric pads): strides, dilation, groups (depthwise), 1x1, bias, fused Relu.
std::vector<CudaCase> Conv_cases() {
  std::vector<CudaCase> cases;
  if (!has_cuda_conv()) return cases;  // built without cuDNN: Conv falls back to the CPU
  std::mt19937 rng(19);
  struct S { Shape x, w; std::vector<int64_t> strides, pads, dilations; int64_t group; bool bias, relu; };
  const S specs[] = {
      {{1, 3, 17, 17}, {5, 3, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, true, false},
      {{2, 3, 17, 5}, {17, 3, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1, false, true},
      {{1, 17, 17, 17}, {17, 1, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, 17, true, true},
      {{1, 255, 3, 3}, {17, 255, 1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, true, false},
      {{1, 4, 17, 17}, {6, 2, 3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}, 2, true, false},
  };
  for (DType t : {DType::kF32, DType::kF16})
    for (const S& sc : specs) {
      std::vector<Tensor> in = {random_tensor(t, sc.x, rng), random_tensor(t, sc.w, rng, -0.5, 0.5)};
      if (sc.bias) in.push_back(random_tensor(t, {sc.w[0]}, rng));
      CudaCase c = make_case("Conv", in, {false, true, true},
                             shape_to_string(sc.x) + " w " + shape_to_string(sc.w) + " group " + std::to_string(sc.group) + " " + dn(t));
      c.node->attrs["strides"] = ir::Attribute::of_ints(sc.strides);
      c.node->attrs["pads"] = ir::Attribute::of_ints(sc.pads);
      c.node->attrs["dilations"] = ir::Attribute::of_ints(sc.dilations);
      c.node->attrs["group"] = ir::Attribute::of_int(sc.group);
      if (sc.relu) {
        c.node->attrs["joule.activation"] = ir::Attribute::of_string("Relu");
        c.post_ref = relu_ref;
      }
      set_tolerance(c, t, 2e-5);
      cases.push_back(std::move(with_prefix(c, "conv2d_")));
    }
  return cases;
}

// Without a device (CI): every case has a reference result and a CUDA kernel that accepts it.
TEST(CudaKernels, EveryCaseHasACudaKernelWithoutDevice) {
  check_cases_without_device(UnaryActivations_cases());
  check_cases_without_device(BinaryBroadcast_cases());
  check_cases_without_device(MatMulCublas_cases());
  check_cases_without_device(GemmCublas_cases());
  check_cases_without_device(Softmax_cases());
  check_cases_without_device(LayerNormalization_cases());
  check_cases_without_device(Transpose_cases());
  check_cases_without_device(Pooling_cases());
  check_cases_without_device(Conv_cases());
}

#define JOULE_CUDA_CONTEXT(ctx)                                                     \
  JOULE_SKIP_WITHOUT_CUDA_DEVICE();                                                 \
  std::string why_;                                                                 \
  kernels::cuda::CudaContext* ctx = shared_context(why_);                           \
  ASSERT_NE(ctx, nullptr) << "device present but the context failed: " << why_

TEST(CudaKernels, UnaryActivationsMatchReference) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(UnaryActivations_cases(), *ctx);
}

TEST(CudaKernels, BinaryBroadcastMatchReference) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(BinaryBroadcast_cases(), *ctx);
}

TEST(CudaKernels, MatMulCublasMatchReference) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(MatMulCublas_cases(), *ctx);
}

TEST(CudaKernels, GemmCublasMatchReference) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(GemmCublas_cases(), *ctx);
}

TEST(CudaKernels, SoftmaxMatchReference) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(Softmax_cases(), *ctx);
}

TEST(CudaKernels, LayerNormalizationMatchReference) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(LayerNormalization_cases(), *ctx);
}

TEST(CudaKernels, TransposeMatchReference) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(Transpose_cases(), *ctx);
}

TEST(CudaKernels, PoolingMatchReference) {
  JOULE_CUDA_CONTEXT(ctx);
  run_cases(Pooling_cases(), *ctx);
}

TEST(CudaKernels, ConvCudnnMatchReference) {
  JOULE_CUDA_CONTEXT(ctx);
  if (!has_cuda_conv()) GTEST_SKIP() << "built without cuDNN: Conv falls back to the CPU";
  run_cases(Conv_cases(), *ctx);
}

}  // namespace
}  // namespace joule::cuda_test

#else

TEST(CudaKernels, SkippedWithoutCuda) { GTEST_SKIP() << "joule was built without CUDA (JOULE_CUDA=OFF or no toolkit)"; }

#endif  // JOULE_WITH_CUDA
