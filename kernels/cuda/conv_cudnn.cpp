// Conv (2-D, NCHW, f32 / f16) through cuDNN's convolution forward, with the bias and a fused activation
// ("joule.activation" Relu / Clip from runtime/passes/fusion.cpp) applied per batch image by the epilogue
// kernel of elementwise.cu. Built only when cuDNN is found (JOULE_WITH_CUDNN).
//
// cuDNN descriptors are made once at prepare (shapes are static in a CUDA session); the algorithm is
// chosen on the first run by cuDNN's heuristic (cudnnGetConvolutionForwardAlgorithm_v7) within the
// session's workspace. f32 uses CUDNN_FMA_MATH (no TF32, so results stay within f32 rounding of the
// reference); f16 allows tensor cores with f32 accumulation.
#ifdef JOULE_WITH_CUDNN

#include <cudnn.h>

#include <limits>
#include <mutex>

#include "kernels/cuda/cuda_kernel_def.h"
#include "kernels/cuda/cuda_libraries.h"
#include "kernels/cuda/cuda_status.h"
#include "runtime/ops/linalg_shapes.h"

namespace joule::kernels::cuda {

namespace {

/// The loaded cuDNN (prepare loads it first; later calls only read the table).
const CudnnApi& dnn() {
  const CudnnApi* api = nullptr;
  load_cudnn(api);
  return *api;
}

Status cudnn_status(cudnnStatus_t s, const std::string& what) {
  if (s == CUDNN_STATUS_SUCCESS) return Status::ok();
  return internal_error(what + ": " + (dnn().error_string ? dnn().error_string(s) : "cuDNN error " + std::to_string(int(s))));
}

struct ConvState {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Activation act = Activation::kNone;
  float lo = 0.f, hi = 0.f;
  int64_t n = 0, oc = 0, out_plane = 0;
  mutable std::once_flag chosen;
  mutable cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  mutable Status choose_status;
  ~ConvState() {
    if (x) dnn().destroy_tensor(x);
    if (y) dnn().destroy_tensor(y);
    if (w) dnn().destroy_filter(w);
    if (conv) dnn().destroy_conv(conv);
  }
};

bool activation_of(const ir::Node& n, ConvState& s) {
  if (!n.has_attr("joule.activation")) return true;
  std::string act = n.attr_string("joule.activation", "");
  if (act == "Relu") {
    s.act = Activation::kRelu;
  } else if (act == "Clip") {
    s.act = Activation::kClip;
    s.lo = n.attr_float("joule.clip_min", -std::numeric_limits<float>::infinity());
    s.hi = n.attr_float("joule.clip_max", std::numeric_limits<float>::infinity());
  } else {
    return false;
  }
  return true;
}

/// Geometry when cuDNN can run the node: 2-D, symmetric pads, static shapes.
bool geometry_of(const KernelQuery& q, ops::ConvGeometry& g) {
  if (!same_float_inputs(q, {0, 1, 2})) return false;
  const TensorDesc &x = q.inputs[0], &w = q.inputs[1];
  if (!x.rank_known || !w.rank_known || x.shape.size() != 4 || w.shape.size() != 4) return false;
  for (int64_t d : x.shape)
    if (d <= 0) return false;
  if (!ops::conv_geometry(q.node, x.shape, w.shape, g).is_ok()) return false;
  for (size_t i = 0; i < 2; ++i)
    if (g.pads_begin[i] != g.pads_end[i]) return false;
  ConvState s;
  return activation_of(q.node, s);
}

bool accepts_conv(const KernelQuery& q) {
  ops::ConvGeometry g;
  return geometry_of(q, g);
}

Status prepare_conv(const KernelQuery& q, std::shared_ptr<const void>& state) {
  ops::ConvGeometry g;
  if (!geometry_of(q, g)) return unsupported(q.node.label() + ": not a 2-D convolution cuDNN can run");
  const CudnnApi* api = nullptr;
  JOULE_RETURN_IF_ERROR(load_cudnn(api).with_context(q.node.label()));
  auto s = std::make_shared<ConvState>();
  activation_of(q.node, *s);
  const Shape& xs = q.inputs[0].shape;
  const Shape& ws = q.inputs[1].shape;
  const bool f16 = q.inputs[0].dtype == DType::kF16;
  const cudnnDataType_t dt = f16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  const std::string what = q.node.label() + ": cuDNN";
  auto i = [](int64_t v) { return static_cast<int>(v); };
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().create_tensor(&s->x), what));
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().create_tensor(&s->y), what));
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().create_filter(&s->w), what));
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().create_conv(&s->conv), what));
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().set_tensor_4d(s->x, CUDNN_TENSOR_NCHW, dt, i(xs[0]), i(xs[1]), i(xs[2]), i(xs[3])), what));
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().set_filter_4d(s->w, dt, CUDNN_TENSOR_NCHW, i(ws[0]), i(ws[1]), i(ws[2]), i(ws[3])), what));
  JOULE_RETURN_IF_ERROR(cudnn_status(
      dnn().set_conv_2d(s->conv, i(g.pads_begin[0]), i(g.pads_begin[1]), i(g.strides[0]), i(g.strides[1]),
                                      i(g.dilations[0]), i(g.dilations[1]), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
      what));
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().set_group_count(s->conv, i(g.group)), what));
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().set_math_type(s->conv, f16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH), what));
  int n = 0, c = 0, h = 0, w = 0;
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().forward_output_dim(s->conv, s->x, s->w, &n, &c, &h, &w), what));
  if (h != g.out_spatial[0] || w != g.out_spatial[1])
    return internal_error(q.node.label() + ": cuDNN output " + std::to_string(h) + "x" + std::to_string(w) +
                          " differs from the inferred " + shape_to_string(g.out_spatial));
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().set_tensor_4d(s->y, CUDNN_TENSOR_NCHW, dt, n, c, h, w), what));
  s->n = n;
  s->oc = c;
  s->out_plane = int64_t{h} * w;
  state = s;
  return Status::ok();
}

Status run_conv(KernelContext& ctx) {
  const auto& s = state_of<ConvState>(ctx);
  CudaContext& cu = cuda_of(ctx);
  if (!cu.cudnn) return ctx.fail_unsupported("the session has no cuDNN handle");
  cudnnHandle_t h = static_cast<cudnnHandle_t>(cu.cudnn);
  std::call_once(s.chosen, [&] {
    cudnnConvolutionFwdAlgoPerf_t perf[8];
    int found = 0;
    s.choose_status = cudnn_status(dnn().forward_algorithm(h, s.x, s.w, s.conv, s.y, 8, &found, perf),
                                   ctx.node.label() + ": cudnnGetConvolutionForwardAlgorithm_v7");
    for (int k = 0; k < found; ++k)
      if (perf[k].status == CUDNN_STATUS_SUCCESS && perf[k].memory <= cu.workspace_bytes) {
        s.algo = perf[k].algo;
        break;
      }
  });
  JOULE_RETURN_IF_ERROR(s.choose_status);
  const float one = 1.f, zero = 0.f;
  Tensor& y = ctx.out(0);
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().forward(h, &one, s.x, ctx.in(0).raw(), s.w, ctx.in(1).raw(), s.conv, s.algo,
                                                             cu.workspace, cu.workspace_bytes, &zero, s.y, y.raw()),
                                     ctx.node.label() + ": cudnnConvolutionForward"));
  const void* bias = ctx.has_input(2) ? ctx.in(2).raw() : nullptr;
  if (!bias && s.act == Activation::kNone) return Status::ok();
  const size_t elem = y.dtype() == DType::kF16 ? 2 : 4;
  for (int64_t b = 0; b < s.n; ++b)  // Y[b] viewed as [oc, out_plane]: bias per row
    JOULE_RETURN_IF_ERROR(launch_bias_activation(y.dtype(), static_cast<char*>(y.raw()) + b * s.oc * s.out_plane * elem, s.oc,
                                                 s.out_plane, bias, 1, 0, 1.f, s.act, s.lo, s.hi, cu.stream));
  return Status::ok();
}

}  // namespace

void register_cuda_conv(KernelRegistry& r) {
  r.add(cuda_kernel("", "Conv", "conv2d_f32_f16__cudnn", accepts_conv, prepare_conv, run_conv));
}

Status create_cudnn_handle(void* stream, void*& handle) {
  handle = nullptr;
  const CudnnApi* api = nullptr;
  if (!load_cudnn(api).is_ok()) return Status::ok();  // no cuDNN at run time: Conv's prepare reports it
  cudnnHandle_t h = nullptr;
  JOULE_RETURN_IF_ERROR(cudnn_status(dnn().create(&h), "cudnnCreate"));
  handle = h;
  return cudnn_status(dnn().set_stream(h, stream_of(stream)), "cudnnSetStream");
}

void destroy_cudnn_handle(void* handle) {
  if (handle) dnn().destroy(static_cast<cudnnHandle_t>(handle));
}

}  // namespace joule::kernels::cuda

#else  // !JOULE_WITH_CUDNN

#include "kernels/cuda/cuda_kernel_def.h"

namespace joule::kernels::cuda {
void register_cuda_conv(KernelRegistry&) {}  // Conv falls back to the CPU without cuDNN
Status create_cudnn_handle(void*, void*& handle) {
  handle = nullptr;
  return Status::ok();
}
void destroy_cudnn_handle(void*) {}
}  // namespace joule::kernels::cuda

#endif  // JOULE_WITH_CUDNN
