// The CUDA device, stream and memory as plain C++ (no CUDA headers): what the session, the kernels'
// host code and the tests share. Implemented in cuda_context.cpp; present only in JOULE_WITH_CUDA builds.
//
// Device tensors are ordinary joule::Tensor objects whose data pointer is device memory (kept alive by
// a shared owner that calls cudaFree). Host code must never dereference them; copy with upload/download.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "joule/status.h"
#include "joule/tensor.h"

namespace joule::kernels::cuda {

/// OK when a CUDA device can be used; otherwise unsupported("no CUDA device: <cudaGetErrorString>").
Status device_status();
/// "NVIDIA H100 80GB HBM3 (sm_90)" or the reason there is none.
std::string device_description();

/// One stream and one set of cuBLAS/cuBLASLt handles (with workspace), owned by one session.
/// Members are CUDA handle types stored as void* so that this header needs no CUDA include.
struct CudaContext {
  void* stream = nullptr;      // cudaStream_t
  void* cublas = nullptr;      // cublasHandle_t
  void* cublaslt = nullptr;    // cublasLtHandle_t
  void* cudnn = nullptr;       // cudnnHandle_t (null in builds without cuDNN)
  void* workspace = nullptr;   // device memory for cuBLASLt
  size_t workspace_bytes = 0;
  int sm = 0;                  // compute capability, e.g. 90

  CudaContext() = default;
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;
  ~CudaContext();

  /// Creates the stream and handles on the current device.
  static Status create(std::unique_ptr<CudaContext>& out);
  /// Waits for everything queued on the stream; returns the first asynchronous error, if any.
  Status synchronize() const;
};

/// dlopen's cuBLAS, cuBLASLt (and cuDNN when built with it) and resolves every entry point joule uses;
/// needs no device (kernels/cuda/cuda_libraries.cpp). CudaContext::create does this first.
Status load_gpu_libraries();

/// cuDNN handle on `stream` (conv_cudnn.cpp); null without cuDNN.
Status create_cudnn_handle(void* stream, void*& handle);
void destroy_cudnn_handle(void* handle);

/// Allocates `bytes` of device memory (at least 256-byte aligned) released when the owner goes.
Status device_alloc(size_t bytes, std::shared_ptr<void>& owner);
/// A device tensor with its own storage.
Status device_tensor(DType dtype, const Shape& shape, Tensor& out);
/// Copies a host tensor into a new device tensor (synchronous when ctx is null, else on ctx's stream).
Status upload(const Tensor& host, Tensor& device, const CudaContext* ctx = nullptr);
/// Copies a device tensor into a new host tensor (waits for the copy).
Status download(const Tensor& device, Tensor& host, const CudaContext* ctx = nullptr);
/// Byte copies (async on ctx's stream when given; synchronous otherwise).
Status copy_host_to_device(void* dst, const void* src, size_t bytes, const CudaContext* ctx);
Status copy_device_to_host(void* dst, const void* src, size_t bytes, const CudaContext* ctx);
Status copy_device_to_device(void* dst, const void* src, size_t bytes, const CudaContext* ctx);
/// Sets `bytes` bytes of device memory to `value` (tests poison outputs with 0xFF).
Status fill_device_bytes(void* dst, int value, size_t bytes, const CudaContext* ctx);

/// The work queued on a context's stream between begin_capture and end_capture, replayed with one launch.
class CapturedGraph {
 public:
  CapturedGraph() = default;
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;
  ~CapturedGraph();
  /// Starts capturing ctx's stream (thread-local capture mode).
  Status begin_capture(const CudaContext& ctx);
  /// Ends the capture and instantiates the graph; on error the stream is left out of capture mode.
  Status end_capture(const CudaContext& ctx);
  /// Launches the instantiated graph on ctx's stream.
  Status launch(const CudaContext& ctx) const;
  bool ready() const { return exec_ != nullptr; }

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
};

}  // namespace joule::kernels::cuda
