// cuBLAS, cuBLASLt and cuDNN loaded with dlopen when the first CUDA context is created, not linked: loading
// libcublasLt alone takes over a second, which every process linking libjoule (each unit test ctest runs)
// would pay even without a GPU. Only the entry points joule calls are resolved. Include after the CUDA
// headers (the table uses their types); call sites use the `api()` tables instead of the functions.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>

#include "joule/status.h"

#ifdef JOULE_WITH_CUDNN
#include <cudnn.h>
#endif

namespace joule::kernels::cuda {

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t*) = nullptr;                       // cublasCreate_v2
  cublasStatus_t (*destroy)(cublasHandle_t) = nullptr;                       // cublasDestroy_v2
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t) = nullptr;     // cublasSetStream_v2
  cublasStatus_t (*set_workspace)(cublasHandle_t, void*, size_t) = nullptr;  // cublasSetWorkspace_v2
  cublasStatus_t (*gemm_strided_batched_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                            const void*, cudaDataType, int, long long, const void*, cudaDataType, int,
                                            long long, const void*, void*, cudaDataType, int, long long, int,
                                            cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
  cublasStatus_t (*lt_create)(cublasLtHandle_t*) = nullptr;
  cublasStatus_t (*lt_destroy)(cublasLtHandle_t) = nullptr;
};
/// Loads libcublas / libcublasLt once (thread-safe); fails with the dlerror() text.
Status load_cublas(const CublasApi*& out);

#ifdef JOULE_WITH_CUDNN
struct CudnnApi {
  decltype(&cudnnCreate) create = nullptr;
  decltype(&cudnnDestroy) destroy = nullptr;
  decltype(&cudnnSetStream) set_stream = nullptr;
  decltype(&cudnnGetErrorString) error_string = nullptr;
  decltype(&cudnnCreateTensorDescriptor) create_tensor = nullptr;
  decltype(&cudnnDestroyTensorDescriptor) destroy_tensor = nullptr;
  decltype(&cudnnSetTensor4dDescriptor) set_tensor_4d = nullptr;
  decltype(&cudnnCreateFilterDescriptor) create_filter = nullptr;
  decltype(&cudnnDestroyFilterDescriptor) destroy_filter = nullptr;
  decltype(&cudnnSetFilter4dDescriptor) set_filter_4d = nullptr;
  decltype(&cudnnCreateConvolutionDescriptor) create_conv = nullptr;
  decltype(&cudnnDestroyConvolutionDescriptor) destroy_conv = nullptr;
  decltype(&cudnnSetConvolution2dDescriptor) set_conv_2d = nullptr;
  decltype(&cudnnSetConvolutionGroupCount) set_group_count = nullptr;
  decltype(&cudnnSetConvolutionMathType) set_math_type = nullptr;
  decltype(&cudnnGetConvolution2dForwardOutputDim) forward_output_dim = nullptr;
  decltype(&cudnnGetConvolutionForwardAlgorithm_v7) forward_algorithm = nullptr;
  decltype(&cudnnConvolutionForward) forward = nullptr;
};
/// Loads libcudnn once (thread-safe); fails with the dlerror() text.
Status load_cudnn(const CudnnApi*& out);
#endif

}  // namespace joule::kernels::cuda
