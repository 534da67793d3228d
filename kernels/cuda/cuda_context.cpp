// Device discovery, the per-session stream and cuBLAS handles, and device memory; see cuda_context.h.
#include "kernels/cuda/cuda_context.h"

#include "kernels/cuda/cuda_libraries.h"
#include "kernels/cuda/cuda_status.h"

namespace joule::kernels::cuda {

Status device_status() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not confused by it
    return unsupported(std::string("no CUDA device: ") + cudaGetErrorString(e));
  }
  if (count == 0) return unsupported("no CUDA device: cudaGetDeviceCount found none");
  return Status::ok();
}

std::string device_description() {
  Status st = device_status();
  if (!st.is_ok()) return st.message();
  int dev = 0;
  cudaDeviceProp p{};
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) return "unknown CUDA device";
  return std::string(p.name) + " (sm_" + std::to_string(p.major * 10 + p.minor) + ", " +
         std::to_string(p.totalGlobalMem >> 20) + " MiB)";
}

CudaContext::~CudaContext() {
  destroy_cudnn_handle(cudnn);
  const CublasApi* api = nullptr;
  if ((cublaslt || cublas) && load_cublas(api).is_ok()) {
    if (cublaslt) api->lt_destroy(static_cast<cublasLtHandle_t>(cublaslt));
    if (cublas) api->destroy(static_cast<cublasHandle_t>(cublas));
  }
  if (workspace) cudaFree(workspace);
  if (stream) cudaStreamDestroy(stream_of(stream));
}

Status CudaContext::create(std::unique_ptr<CudaContext>& out) {
  JOULE_RETURN_IF_ERROR(device_status());
  const CublasApi* api = nullptr;
  JOULE_RETURN_IF_ERROR(load_cublas(api));
  auto c = std::make_unique<CudaContext>();
  int dev = 0, major = 0, minor = 0;
  JOULE_RETURN_IF_ERROR(cuda_status(cudaGetDevice(&dev), "cudaGetDevice"));
  JOULE_RETURN_IF_ERROR(cuda_status(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev), "cudaDeviceGetAttribute"));
  JOULE_RETURN_IF_ERROR(cuda_status(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev), "cudaDeviceGetAttribute"));
  c->sm = major * 10 + minor;
  // A blocking stream: it orders with the synchronous copies of the legacy default stream (weight uploads at
  // prepare), whose pageable host-to-device DMA may still be in flight when cudaMemcpy returns.
  cudaStream_t s = nullptr;
  JOULE_RETURN_IF_ERROR(cuda_status(cudaStreamCreateWithFlags(&s, cudaStreamDefault), "cudaStreamCreate"));
  c->stream = s;
  cublasHandle_t h = nullptr;
  JOULE_RETURN_IF_ERROR(cublas_status(api->create(&h), "cublasCreate"));
  c->cublas = h;
  JOULE_RETURN_IF_ERROR(cublas_status(api->set_stream(h, s), "cublasSetStream"));
  cublasLtHandle_t lt = nullptr;
  JOULE_RETURN_IF_ERROR(cublas_status(api->lt_create(&lt), "cublasLtCreate"));
  c->cublaslt = lt;
  // A fixed workspace keeps cuBLAS from allocating during runs (required under CUDA graph capture).
  c->workspace_bytes = size_t{32} << 20;
  JOULE_RETURN_IF_ERROR(cuda_status(cudaMalloc(&c->workspace, c->workspace_bytes), "cudaMalloc(cuBLAS workspace)"));
  JOULE_RETURN_IF_ERROR(cublas_status(api->set_workspace(h, c->workspace, c->workspace_bytes), "cublasSetWorkspace"));
  JOULE_RETURN_IF_ERROR(create_cudnn_handle(c->stream, c->cudnn));
  out = std::move(c);
  return Status::ok();
}

Status CudaContext::synchronize() const {
  return cuda_status(cudaStreamSynchronize(stream_of(stream)), "cudaStreamSynchronize");
}

Status device_alloc(size_t bytes, std::shared_ptr<void>& owner) {
  void* p = nullptr;
  JOULE_RETURN_IF_ERROR(cuda_status(cudaMalloc(&p, bytes == 0 ? 1 : bytes), "cudaMalloc"));
  owner = std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
  return Status::ok();
}

Status device_tensor(DType dtype, const Shape& shape, Tensor& out) {
  int64_t n = shape_numel(shape);
  if (n < 0) return internal_error("device tensor with unknown shape " + shape_to_string(shape));
  std::shared_ptr<void> owner;
  JOULE_RETURN_IF_ERROR(device_alloc(storage_bytes(dtype, n), owner));
  void* p = owner.get();
  out = Tensor::from_shared(dtype, shape, std::move(owner), p);
  return Status::ok();
}

namespace {
Status copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const CudaContext* ctx, const char* what) {
  if (bytes == 0) return Status::ok();
  if (!ctx) return cuda_status(cudaMemcpy(dst, src, bytes, kind), what);
  return cuda_status(cudaMemcpyAsync(dst, src, bytes, kind, stream_of(ctx->stream)), what);
}
}  // namespace

Status copy_host_to_device(void* dst, const void* src, size_t bytes, const CudaContext* ctx) {
  return copy(dst, src, bytes, cudaMemcpyHostToDevice, ctx, "cudaMemcpy host to device");
}
Status copy_device_to_host(void* dst, const void* src, size_t bytes, const CudaContext* ctx) {
  return copy(dst, src, bytes, cudaMemcpyDeviceToHost, ctx, "cudaMemcpy device to host");
}
Status copy_device_to_device(void* dst, const void* src, size_t bytes, const CudaContext* ctx) {
  return copy(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx, "cudaMemcpy device to device");
}

Status fill_device_bytes(void* dst, int value, size_t bytes, const CudaContext* ctx) {
  if (bytes == 0) return Status::ok();
  if (!ctx) return cuda_status(cudaMemset(dst, value, bytes), "cudaMemset");
  return cuda_status(cudaMemsetAsync(dst, value, bytes, stream_of(ctx->stream)), "cudaMemsetAsync");
}

Status upload(const Tensor& host, Tensor& device, const CudaContext* ctx) {
  JOULE_RETURN_IF_ERROR(device_tensor(host.dtype(), host.shape(), device));
  JOULE_RETURN_IF_ERROR(copy_host_to_device(device.raw(), host.raw(), host.nbytes(), ctx));
  // The host tensor may be freed by the caller right after: finish the copy before returning.
  return ctx ? ctx->synchronize() : Status::ok();
}

Status download(const Tensor& device, Tensor& host, const CudaContext* ctx) {
  host = Tensor(device.dtype(), device.shape());
  JOULE_RETURN_IF_ERROR(copy_device_to_host(host.raw(), device.raw(), device.nbytes(), ctx));
  return ctx ? ctx->synchronize() : Status::ok();
}

CapturedGraph::~CapturedGraph() {
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
}

Status CapturedGraph::begin_capture(const CudaContext& ctx) {
  return cuda_status(cudaStreamBeginCapture(stream_of(ctx.stream), cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
}

Status CapturedGraph::end_capture(const CudaContext& ctx) {
  cudaGraph_t g = nullptr;
  JOULE_RETURN_IF_ERROR(cuda_status(cudaStreamEndCapture(stream_of(ctx.stream), &g), "cudaStreamEndCapture"));
  graph_ = g;
  cudaGraphExec_t e = nullptr;
  JOULE_RETURN_IF_ERROR(cuda_status(cudaGraphInstantiate(&e, g, 0), "cudaGraphInstantiate"));
  exec_ = e;
  return Status::ok();
}

Status CapturedGraph::launch(const CudaContext& ctx) const {
  return cuda_status(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), stream_of(ctx.stream)), "cudaGraphLaunch");
}

}  // namespace joule::kernels::cuda
