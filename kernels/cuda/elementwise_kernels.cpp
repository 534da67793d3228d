// CUDA kernels of elementwise ops: activations and unary math, binary arithmetic with broadcasting, and the
// byte-copy "kernels" of view ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity) whose output shape the
// session already knows. Launchers live in elementwise.cu.
#include <limits>

#include "kernels/cuda/cuda_kernel_def.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels::cuda {

namespace {

struct UnaryState {
  Activation act = Activation::kNone;
  float lo = 0.f, hi = 0.f;
};

bool accepts_unary(const KernelQuery& q) { return same_float_inputs(q, {0}); }

/// Reads the activation of a node (and Clip's constant bounds); false when unsupported.
bool unary_of(const KernelQuery& q, UnaryState& s) {
  static const std::pair<const char*, Activation> kPlain[] = {
      {"Relu", Activation::kRelu},   {"Sigmoid", Activation::kSigmoid}, {"Tanh", Activation::kTanh},
      {"Erf", Activation::kErf},     {"Neg", Activation::kNeg},         {"Abs", Activation::kAbs},
      {"Exp", Activation::kExp},     {"Log", Activation::kLog},         {"Sqrt", Activation::kSqrt},
      {"Reciprocal", Activation::kReciprocal}, {"Floor", Activation::kFloor}, {"Ceil", Activation::kCeil}};
  const ir::Node& n = q.node;
  for (auto& [op, act] : kPlain)
    if (n.op_type == op) {
      s.act = act;
      return true;
    }
  if (n.op_type == "Gelu") {
    std::string approx = n.attr_string("approximate", "none");
    if (approx != "none" && approx != "tanh") return false;
    s.act = approx == "tanh" ? Activation::kGeluTanh : Activation::kGelu;
    return true;
  }
  if (n.op_type == "LeakyRelu") {
    s.act = Activation::kLeakyRelu;
    s.lo = n.attr_float("alpha", 0.01f);
    return true;
  }
  if (n.op_type == "Clip") {
    s.act = Activation::kClip;
    s.lo = -std::numeric_limits<float>::infinity();
    s.hi = std::numeric_limits<float>::infinity();
    if (n.opset < 11) {
      s.lo = n.attr_float("min", s.lo);
      s.hi = n.attr_float("max", s.hi);
      return true;
    }
    for (size_t i = 1; i < 3 && i < q.inputs.size(); ++i) {
      if (q.inputs[i].dtype == DType::kUndefined) continue;
      const Tensor* c = q.constant_inputs[i];
      if (!c || c->numel() != 1) return false;  // bounds computed on the device: not supported here
      (i == 1 ? s.lo : s.hi) = static_cast<float>(c->value_as_double(0));
    }
    return true;
  }
  return false;
}

bool accepts_activation(const KernelQuery& q) {
  UnaryState s;
  return accepts_unary(q) && unary_of(q, s);
}

Status prepare_activation(const KernelQuery& q, std::shared_ptr<const void>& state) {
  auto s = std::make_shared<UnaryState>();
  if (!unary_of(q, *s)) return unsupported(q.node.label() + ": activation not supported on CUDA");
  state = s;
  return Status::ok();
}

Status run_activation(KernelContext& ctx) {
  const auto& s = state_of<UnaryState>(ctx);
  const Tensor& x = ctx.in(0);
  return launch_unary(s.act, x.dtype(), x.raw(), ctx.out(0).raw(), x.numel(), s.lo, s.hi, stream_of_ctx(ctx));
}

BinaryOp binary_of(const std::string& op) {
  if (op == "Sub") return BinaryOp::kSub;
  if (op == "Mul") return BinaryOp::kMul;
  if (op == "Div") return BinaryOp::kDiv;
  if (op == "Max") return BinaryOp::kMax;
  if (op == "Min") return BinaryOp::kMin;
  if (op == "Pow") return BinaryOp::kPow;
  return BinaryOp::kAdd;
}

bool accepts_binary(const KernelQuery& q) {
  if (q.inputs.size() != 2 || !same_float_inputs(q, {0, 1})) return false;
  if (!q.inputs[0].rank_known || !q.inputs[1].rank_known) return false;
  return q.inputs[0].shape.size() <= kMaxRank && q.inputs[1].shape.size() <= kMaxRank;
}

Status run_binary(KernelContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor& y = ctx.out(0);
  BroadcastIndex ix;
  ix.rank = y.rank();
  if (ix.rank > kMaxRank) return ctx.fail_unsupported("rank > 6 on CUDA");
  std::vector<int64_t> sa = ops::broadcast_strides(a.shape(), y.shape()), sb = ops::broadcast_strides(b.shape(), y.shape());
  for (int d = 0; d < ix.rank; ++d) {
    ix.dims[d] = y.dim(d);
    ix.a_stride[d] = sa[static_cast<size_t>(d)];
    ix.b_stride[d] = sb[static_cast<size_t>(d)];
  }
  return launch_binary(binary_of(ctx.node.op_type), a.dtype(), a.raw(), b.raw(), y.raw(), ix, y.numel(), Activation::kNone,
                       0.f, 0.f, stream_of_ctx(ctx));
}

bool accepts_any(const KernelQuery&) { return true; }

// Output shares input 0's bytes in the same order: a device-to-device copy of the element bytes.
Status run_view_copy(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  if (x.nbytes() != y.nbytes()) return ctx.fail("view op changes the byte count");
  return copy_device_to_device(y.raw(), x.raw(), x.nbytes(), &cuda_of(ctx));
}

}  // namespace

void register_cuda_elementwise(KernelRegistry& r) {
  for (const char* op : {"Relu", "Sigmoid", "Tanh", "Erf", "Gelu", "Clip", "LeakyRelu", "Neg", "Abs", "Exp", "Log",
                         "Sqrt", "Reciprocal", "Floor", "Ceil"})
    r.add(cuda_kernel("", op, (std::string("unary_f32_f16__cuda_") + op).c_str(), accepts_activation,
                      prepare_activation, run_activation));
  r.add(cuda_kernel("com.microsoft", "Gelu", "gelu_ms_f32_f16__cuda", accepts_activation, prepare_activation, run_activation));
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"})
    r.add(cuda_kernel("", op, (std::string("binary_bcast_f32_f16__cuda_") + op).c_str(), accepts_binary, nullptr, run_binary));
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
    r.add(cuda_kernel("", op, (std::string("view_copy__cuda_") + op).c_str(), accepts_any, nullptr, run_view_copy));
}

}  // namespace joule::kernels::cuda
