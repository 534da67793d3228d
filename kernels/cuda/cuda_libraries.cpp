// dlopen of cuBLAS, cuBLASLt and cuDNN; see cuda_libraries.h.
#include <dlfcn.h>

#include <mutex>
#include <string>

#include "kernels/cuda/cuda_libraries.h"

namespace joule::kernels::cuda {

namespace {

/// dlopen of the first name that loads (versioned soname first); null with `err` set otherwise.
void* open_first(std::initializer_list<const char*> names, std::string& err) {
  for (const char* n : names) {
    if (void* h = dlopen(n, RTLD_NOW | RTLD_GLOBAL)) return h;
    const char* e = dlerror();
    err += std::string(err.empty() ? "" : "; ") + (e ? e : n);
  }
  return nullptr;
}

template <class F>
bool resolve(void* lib, const char* symbol, F& fn, std::string& err) {
  fn = reinterpret_cast<F>(dlsym(lib, symbol));
  if (!fn) err += std::string(err.empty() ? "" : "; ") + "missing symbol " + symbol;
  return fn != nullptr;
}

}  // namespace

Status load_cublas(const CublasApi*& out) {
  static CublasApi api;
  static Status st;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string err;
    void* lt = open_first({"libcublasLt.so.13", "libcublasLt.so"}, err);
    void* bl = lt ? open_first({"libcublas.so.13", "libcublas.so"}, err) : nullptr;
    if (!lt || !bl) {
      st = unsupported("cannot load cuBLAS: " + err);
      return;
    }
    bool ok = resolve(bl, "cublasCreate_v2", api.create, err) & resolve(bl, "cublasDestroy_v2", api.destroy, err) &
              resolve(bl, "cublasSetStream_v2", api.set_stream, err) &
              resolve(bl, "cublasSetWorkspace_v2", api.set_workspace, err) &
              resolve(bl, "cublasGemmStridedBatchedEx", api.gemm_strided_batched_ex, err) &
              resolve(lt, "cublasLtCreate", api.lt_create, err) & resolve(lt, "cublasLtDestroy", api.lt_destroy, err);
    if (!ok) st = unsupported("cuBLAS: " + err);
  });
  out = &api;
  return st;
}

#ifdef JOULE_WITH_CUDNN
Status load_cudnn(const CudnnApi*& out) {
  static CudnnApi api;
  static Status st;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string err;
    void* lib = open_first({"libcudnn.so.9", "libcudnn.so"}, err);
    if (!lib) {
      st = unsupported("cannot load cuDNN: " + err);
      return;
    }
    bool ok = resolve(lib, "cudnnCreate", api.create, err) & resolve(lib, "cudnnDestroy", api.destroy, err) &
              resolve(lib, "cudnnSetStream", api.set_stream, err) & resolve(lib, "cudnnGetErrorString", api.error_string, err) &
              resolve(lib, "cudnnCreateTensorDescriptor", api.create_tensor, err) &
              resolve(lib, "cudnnDestroyTensorDescriptor", api.destroy_tensor, err) &
              resolve(lib, "cudnnSetTensor4dDescriptor", api.set_tensor_4d, err) &
              resolve(lib, "cudnnCreateFilterDescriptor", api.create_filter, err) &
              resolve(lib, "cudnnDestroyFilterDescriptor", api.destroy_filter, err) &
              resolve(lib, "cudnnSetFilter4dDescriptor", api.set_filter_4d, err) &
              resolve(lib, "cudnnCreateConvolutionDescriptor", api.create_conv, err) &
              resolve(lib, "cudnnDestroyConvolutionDescriptor", api.destroy_conv, err) &
              resolve(lib, "cudnnSetConvolution2dDescriptor", api.set_conv_2d, err) &
              resolve(lib, "cudnnSetConvolutionGroupCount", api.set_group_count, err) &
              resolve(lib, "cudnnSetConvolutionMathType", api.set_math_type, err) &
              resolve(lib, "cudnnGetConvolution2dForwardOutputDim", api.forward_output_dim, err) &
              resolve(lib, "cudnnGetConvolutionForwardAlgorithm_v7", api.forward_algorithm, err) &
              resolve(lib, "cudnnConvolutionForward", api.forward, err);
    if (!ok) st = unsupported("cuDNN: " + err);
  });
  out = &api;
  return st;
}
#endif

Status load_gpu_libraries() {
  const CublasApi* blas = nullptr;
  JOULE_RETURN_IF_ERROR(load_cublas(blas));
#ifdef JOULE_WITH_CUDNN
  const CudnnApi* dnn = nullptr;
  JOULE_RETURN_IF_ERROR(load_cudnn(dnn));
#endif
  return Status::ok();
}

}  // namespace joule::kernels::cuda
