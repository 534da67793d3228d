// What every CUDA KernelDef shares: dtype checks for `accepts`, the stream of the running session, and the
// registration functions of each family (kernels/cuda/*_kernels.cpp). Host C++ only.
#pragma once

#include <memory>

#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/cuda_launch.h"
#include "kernels/kernel_registry.h"

namespace joule::kernels::cuda {

inline bool is_float(DType t) { return t == DType::kF32 || t == DType::kF16; }

/// True when every present input i in `which` is f32 or f16, all of the same type.
inline bool same_float_inputs(const KernelQuery& q, std::initializer_list<size_t> which) {
  DType t = DType::kUndefined;
  for (size_t i : which) {
    if (i >= q.inputs.size() || q.inputs[i].dtype == DType::kUndefined) continue;
    if (!is_float(q.inputs[i].dtype)) return false;
    if (t != DType::kUndefined && q.inputs[i].dtype != t) return false;
    t = q.inputs[i].dtype;
  }
  return t != DType::kUndefined;
}

/// The session's CUDA context (KernelContext::device).
inline CudaContext& cuda_of(KernelContext& ctx) { return *static_cast<CudaContext*>(ctx.device); }
inline void* stream_of_ctx(KernelContext& ctx) { return cuda_of(ctx).stream; }

/// A KernelDef for Device::kCuda.
inline KernelDef cuda_kernel(const char* domain, const char* op, const char* name, AcceptsFn accepts, PrepareFn prepare,
                             KernelFn run, int priority = 0) {
  return KernelDef{domain, op, name, Device::kCuda, Isa::kScalar, priority, accepts, prepare, run};
}

/// Typed prepared state.
template <class S>
const S& state_of(const KernelContext& ctx) { return *static_cast<const S*>(ctx.state); }

void register_cuda_elementwise(KernelRegistry& r);  // elementwise_kernels.cpp
void register_cuda_gemm(KernelRegistry& r);         // gemm_cublas.cpp
void register_cuda_nn(KernelRegistry& r);           // nn_kernels.cpp
void register_cuda_quant(KernelRegistry& r);        // quant_kernels.cpp
void register_cuda_conv(KernelRegistry& r);         // conv_cudnn.cpp (empty without cuDNN)

}  // namespace joule::kernels::cuda
