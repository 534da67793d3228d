// CUDA / cuBLAS error codes as joule Status values (for files that include the CUDA headers).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "joule/status.h"

namespace joule::kernels::cuda {

inline Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::ok();
  return internal_error(std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

inline Status cublas_status(cublasStatus_t e, const char* what) {
  if (e == CUBLAS_STATUS_SUCCESS) return Status::ok();
  return internal_error(std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(e)));
}

/// The error of the last kernel launch (launch configuration, missing kernel image).
inline Status launch_status(const char* kernel) { return cuda_status(cudaGetLastError(), kernel); }

inline cudaStream_t stream_of(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace joule::kernels::cuda
