// Registers the optimized CPU kernels (AVX2 / AVX-512 variants live in *__<isa>.cpp files beside this one).
#include "kernels/kernel_registry.h"

namespace joule::kernels {
namespace cpu {
void register_cpu_linalg(KernelRegistry& r);  // linalg_f32.cpp: MatMul, Gemm
void register_cpu_matmul_bias(KernelRegistry& r);  // matmul_bias_f32.cpp: joule.MatMulBias
void register_cpu_strided_matmul(KernelRegistry& r);  // strided_matmul_f32.cpp: joule.StridedMatMul
void register_cpu_conv(KernelRegistry& r);    // conv_f32.cpp: Conv via im2col / 1x1 GEMM
void register_cpu_conv_winograd(KernelRegistry& r);  // conv_winograd_f32.cpp: 3x3 stride-1 Conv, Winograd F(4x4, 3x3)
void register_cpu_dwconv(KernelRegistry& r);  // dwconv_f32.cpp: depthwise 3x3 / 5x5 Conv
void register_cpu_conv1x1(KernelRegistry& r);  // conv1x1_f32.cpp: pointwise Conv straight on NCHW
void register_cpu_elementwise(KernelRegistry& r);         // elementwise_f32.cpp: binary ops, activations
void register_cpu_softmax_layer_norm(KernelRegistry& r);  // softmax_layer_norm_f32.cpp (+ GlobalAveragePool)
void register_cpu_transpose(KernelRegistry& r);           // transpose_blocked.cpp: Transpose, any dtype
void register_cpu_pool2d(KernelRegistry& r);              // pool2d_f32.cpp: 2-D MaxPool / AveragePool
void register_cpu_matmul_nbits(KernelRegistry& r);  // matmul_nbits_f32.cpp: com.microsoft MatMulNBits (INT4)
void register_cpu_qgemm(KernelRegistry& r);   // qgemm_s16.cpp: joule.QConv / QGemm / DynQMatMul (int8)
void register_cpu_quantize_linear(KernelRegistry& r);  // quantize_linear_f32.cpp: per-tensor 8-bit Q / DQ
void register_cpu_qadd(KernelRegistry& r);  // qadd_u8.cpp: joule.QAdd (u8 residual Add with requantization)
}  // namespace cpu

void register_cpu_kernels(KernelRegistry& r) {
  cpu::register_cpu_linalg(r);
  cpu::register_cpu_matmul_bias(r);
  cpu::register_cpu_strided_matmul(r);
  cpu::register_cpu_conv(r);
  cpu::register_cpu_conv_winograd(r);
  cpu::register_cpu_dwconv(r);
  cpu::register_cpu_conv1x1(r);
  cpu::register_cpu_elementwise(r);
  cpu::register_cpu_softmax_layer_norm(r);
  cpu::register_cpu_transpose(r);
  cpu::register_cpu_pool2d(r);
  cpu::register_cpu_matmul_nbits(r);
  cpu::register_cpu_qgemm(r);
  cpu::register_cpu_quantize_linear(r);
  cpu::register_cpu_qadd(r);
}

}  // namespace joule::kernels
