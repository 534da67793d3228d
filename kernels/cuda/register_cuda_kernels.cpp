// Registers every CUDA kernel family (Device::kCuda) in the builtin registry.
#include "kernels/cuda/cuda_kernel_def.h"

namespace joule::kernels {

void register_cuda_kernels(KernelRegistry& r) {
  cuda::register_cuda_elementwise(r);
  cuda::register_cuda_gemm(r);
  cuda::register_cuda_nn(r);
  cuda::register_cuda_quant(r);
  cuda::register_cuda_conv(r);
}

}  // namespace joule::kernels
