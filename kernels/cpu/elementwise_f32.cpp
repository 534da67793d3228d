// FP32 broadcasting binary ops (Add, Sub, Mul, Div, 2-input Max/Min, Pow with constant exponent 2) and
// activations / unary math (Relu, LeakyRelu, Sigmoid, Tanh, Erf, Gelu, com.microsoft Gelu/FastGelu,
// HardSwish, HardSigmoid, Clip, Exp, Sqrt, Neg) on the AVX2 / AVX-512 row kernels of elementwise_f32.h.
//
// Broadcasting: the output is walked as rows (the innermost run after merging dims that are contiguous
// for every operand, numpy rules); each input's step along a row is 1 or 0 (broadcast). Same-shape and
// scalar operands give a single row; a trailing vector (bias) or per-channel operand gives rows with
// one of the steps 0. Work is split over ctx.pool in whole rows, or in chunks of one long row; every
// element is computed the same way wherever the split falls, so 1 and N threads agree bitwise.
#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <string>

#include "kernels/cpu/elementwise_f32.h"
#include "kernels/kernel_registry.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels::cpu {

namespace {

// Elements per task below which a tensor is not worth waking another thread for: every task gets at least
// this many (a tensor under 2 x this runs on the caller alone). Zen 4, 2 threads, MiniLM-L6 (49152-element
// Adds, ~20 us): splitting them cost ~2.4x their 1-thread CPU time in pool hand-off and spin.
constexpr int64_t kGrainElems = 32768;

// Merged broadcast view of out = f(a, b): rows of `inner` elements, outer dims `dims` with per-input strides.
struct BroadcastRows {
  std::vector<int64_t> dims;                 // outer dims (the last dim is the row, excluded)
  std::array<std::vector<int64_t>, 2> st;    // per input, stride per outer dim
  std::array<int64_t, 2> step{};             // per input, step along a row (0 or 1)
  int64_t inner = 1, rows = 1;
};

BroadcastRows broadcast_rows(const Shape& a, const Shape& b, const Shape& out) {
  std::array<std::vector<int64_t>, 2> full = {ops::broadcast_strides(a, out), ops::broadcast_strides(b, out)};
  BroadcastRows r;
  std::vector<int64_t> dims;
  std::array<std::vector<int64_t>, 2> st;
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < 2 && merge; ++k) merge = st[k].back() == full[k][d] * out[d];
    if (merge) {
      dims.back() *= out[d];
      for (size_t k = 0; k < 2; ++k) st[k].back() = full[k][d];
    } else {
      dims.push_back(out[d]);
      for (size_t k = 0; k < 2; ++k) st[k].push_back(full[k][d]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    for (size_t k = 0; k < 2; ++k) st[k].push_back(0);
  }
  r.inner = dims.back();
  for (size_t k = 0; k < 2; ++k) {
    r.step[k] = st[k].back();
    st[k].pop_back();
  }
  dims.pop_back();
  r.dims = std::move(dims);
  r.st = std::move(st);
  for (int64_t d : r.dims) r.rows *= d;
  return r;
}

// Walks rows [r0, r1): the multi-index of r0 by division, then an odometer (no division per row).
template <class Fn>
void for_rows(const BroadcastRows& r, int64_t r0, int64_t r1, Fn&& fn) {
  std::vector<int64_t> idx(r.dims.size());
  std::array<int64_t, 2> off{};
  for (size_t d = r.dims.size(), row = static_cast<size_t>(r0); d-- > 0;) {
    idx[d] = static_cast<int64_t>(row) % r.dims[d];
    row /= static_cast<size_t>(r.dims[d]);
    for (size_t k = 0; k < 2; ++k) off[k] += idx[d] * r.st[k][d];
  }
  for (int64_t row = r0; row < r1; ++row) {
    fn(row, off);
    for (size_t d = r.dims.size(); d-- > 0;) {
      ++idx[d];
      for (size_t k = 0; k < 2; ++k) off[k] += r.st[k][d];
      if (idx[d] < r.dims[d]) break;
      for (size_t k = 0; k < 2; ++k) off[k] -= r.st[k][d] * r.dims[d];
      idx[d] = 0;
    }
  }
}

// Runs fn over [0, n) in at most n / grain tasks (each at least `grain` items), on the caller alone below 2.
void parallel(ThreadPool* pool, int64_t n, int64_t grain, RangeFn fn) {
  grain = std::max<int64_t>(grain, 1);
  const int64_t tasks = std::min<int64_t>(n / grain, pool ? pool->threads() : 1);
  if (tasks <= 1) return fn(0, n);
  pool->parallel_for(n, (n + tasks - 1) / tasks, fn);
}

void binary_f32(const ElementwiseF32Kernels& k, BinaryOpF32 op, const Tensor& a, const Tensor& b, Tensor& out, ThreadPool* pool) {
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  if (out.numel() == 0) return;
  // Common cases without building the general view (no allocation): same shape, a scalar operand, and a
  // trailing-vector operand (b's shape a suffix of a's, or the reverse) as rows of b's size.
  const int64_t n = out.numel(), na = a.numel(), nb = b.numel();
  if ((na == n && nb == n && a.shape() == b.shape()) || (na == n && nb == 1) || (na == 1 && nb == n)) {
    const int64_t sa = na == 1 ? 0 : 1, sb = nb == 1 ? 0 : 1;
    parallel(pool, n, kGrainElems, [&](int64_t j0, int64_t j1) { k.binary(op, pa + j0 * sa, sa, pb + j0 * sb, sb, po + j0, j1 - j0); });
    return;
  }
  auto is_suffix = [](const Shape& small, const Shape& big) {
    size_t lead = 0;  // leading 1s of `small` do not change its layout
    while (lead < small.size() && small[lead] == 1) ++lead;
    const size_t rank = small.size() - lead;
    if (rank == 0 || rank > big.size()) return false;
    return std::equal(small.begin() + static_cast<std::ptrdiff_t>(lead), small.end(), big.end() - static_cast<std::ptrdiff_t>(rank));
  };
  if ((na == n && is_suffix(b.shape(), a.shape())) || (nb == n && is_suffix(a.shape(), b.shape()))) {
    const bool b_vec = na == n;
    const int64_t len = b_vec ? nb : na, rows = n / len;
    parallel(pool, rows, std::max<int64_t>(1, kGrainElems / len), [&](int64_t r0, int64_t r1) {
      for (int64_t row = r0; row < r1; ++row)
        k.binary(op, b_vec ? pa + row * len : pa, 1, b_vec ? pb : pb + row * len, 1, po + row * len, len);
    });
    return;
  }
  const BroadcastRows r = broadcast_rows(a.shape(), b.shape(), out.shape());
  if (r.rows == 1) {  // one run: same shape, or scalar with tensor
    parallel(pool, r.inner, kGrainElems, [&](int64_t j0, int64_t j1) {
      k.binary(op, pa + j0 * r.step[0], r.step[0], pb + j0 * r.step[1], r.step[1], po + j0, j1 - j0);
    });
    return;
  }
  const int64_t grain_rows = std::max<int64_t>(1, kGrainElems / r.inner);
  parallel(pool, r.rows, grain_rows, [&](int64_t r0, int64_t r1) {
    for_rows(r, r0, r1, [&](int64_t row, const std::array<int64_t, 2>& off) {
      k.binary(op, pa + off[0], r.step[0], pb + off[1], r.step[1], po + row * r.inner, r.inner);
    });
  });
}

void unary_f32(const ElementwiseF32Kernels& k, UnaryOpF32 op, const UnaryParamsF32& p, const float* x, float* y, int64_t n,
               ThreadPool* pool) {
  parallel(pool, n, kGrainElems / 4, [&](int64_t j0, int64_t j1) { k.unary(op, p, x + j0, y + j0, j1 - j0); });
}

// Input dtypes may be unknown when the kernel is chosen (values behind dynamic-shape subgraphs): a kernel
// accepts unless a known dtype is not f32, and hands a node whose inputs turn out not to be f32 at run time
// to the reference kernel.
bool is_f32(const ir::TensorDesc& d) { return d.dtype == DType::kF32 || d.dtype == DType::kUndefined; }

bool inputs_f32(const KernelContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.in(i).dtype() != DType::kF32) return false;
  return true;
}

Status run_reference(KernelContext& ctx) {  // rare (non-f32 at run time): the lookup cost does not matter
  const KernelDef* ref = KernelRegistry::builtin().reference(ctx.node.domain, ctx.node.op_type);
  if (!ref) return ctx.fail_unsupported("no reference kernel");
  return ref->run(ctx);
}

bool no_fused_attr(const KernelQuery& q) { return !q.node.has_attr("joule.activation"); }

bool accepts_binary(const KernelQuery& q) {
  return no_fused_attr(q) && q.inputs.size() == 2 && is_f32(q.inputs[0]) && is_f32(q.inputs[1]);
}

bool accepts_unary(const KernelQuery& q) { return no_fused_attr(q) && !q.inputs.empty() && is_f32(q.inputs[0]); }

// Clip: bounds from attributes (opset < 11) or from optional f32 inputs.
bool accepts_clip(const KernelQuery& q) {
  if (!accepts_unary(q)) return false;
  for (size_t i = 1; i < q.inputs.size(); ++i)
    if (q.node.has_input(i) && !is_f32(q.inputs[i])) return false;
  return true;
}

// Pow(x, 2) with a constant scalar f32 exponent equal to 2.
bool accepts_square(const KernelQuery& q) {
  if (!accepts_unary(q) || q.inputs.size() != 2 || q.constant_inputs.size() < 2 || !q.constant_inputs[1]) return false;
  const Tensor& e = *q.constant_inputs[1];
  return e.dtype() == DType::kF32 && e.numel() == 1 && e.data<float>()[0] == 2.0f;
}

// FastGelu: optional bias of X's dtype.
bool accepts_fast_gelu(const KernelQuery& q) {
  return accepts_unary(q) && (q.inputs.size() < 2 || !q.node.has_input(1) || is_f32(q.inputs[1]));
}

template <Isa I, BinaryOpF32 Op>
Status binary_kernel(KernelContext& ctx) {
  if (!inputs_f32(ctx)) return run_reference(ctx);
  binary_f32(elementwise_f32_kernels(I), Op, ctx.in(0), ctx.in(1), ctx.out(0), ctx.pool);
  return Status::ok();
}

template <Isa I, UnaryOpF32 Op>
Status unary_kernel(KernelContext& ctx) {
  if (!inputs_f32(ctx)) return run_reference(ctx);
  UnaryParamsF32 p;
  if constexpr (Op == UnaryOpF32::kLeakyRelu) p.a = ctx.node.attr_float("alpha", 0.01f);
  if constexpr (Op == UnaryOpF32::kHardSigmoid) {
    p.a = ctx.node.attr_float("alpha", 0.2f);
    p.b = ctx.node.attr_float("beta", 0.5f);
  }
  if constexpr (Op == UnaryOpF32::kClip) {
    p.a = std::numeric_limits<float>::lowest();
    p.b = std::numeric_limits<float>::max();
    if (ctx.node.opset < 11) {
      if (ctx.node.has_attr("min")) p.a = ctx.node.attr_float("min", 0.0f);
      if (ctx.node.has_attr("max")) p.b = ctx.node.attr_float("max", 0.0f);
    } else {
      if (ctx.has_input(1)) p.a = ctx.in(1).data<float>()[0];
      if (ctx.has_input(2)) p.b = ctx.in(2).data<float>()[0];
    }
  }
  unary_f32(elementwise_f32_kernels(I), Op, p, ctx.in(0).data<float>(), ctx.out(0).data<float>(), ctx.in(0).numel(), ctx.pool);
  return Status::ok();
}

template <Isa I>
Status gelu_kernel(KernelContext& ctx) {
  if (ctx.node.attr_string("approximate", "none") == "tanh") return unary_kernel<I, UnaryOpF32::kGeluTanh>(ctx);
  return unary_kernel<I, UnaryOpF32::kGeluErf>(ctx);
}

// FastGelu(X, bias?) = gelu_tanh(X + bias): the broadcast add, then the activation in place.
template <Isa I>
Status fast_gelu_kernel(KernelContext& ctx) {
  if (!inputs_f32(ctx)) return run_reference(ctx);
  const ElementwiseF32Kernels& k = elementwise_f32_kernels(I);
  Tensor& y = ctx.out(0);
  const float* x = ctx.in(0).data<float>();
  if (ctx.has_input(1)) {
    binary_f32(k, BinaryOpF32::kAdd, ctx.in(0), ctx.in(1), y, ctx.pool);
    x = y.data<float>();
  }
  unary_f32(k, UnaryOpF32::kGeluTanh, {}, x, y.data<float>(), y.numel(), ctx.pool);
  return Status::ok();
}

template <Isa I>
void register_isa(KernelRegistry& r, const char* suffix, int priority) {
  auto add = [&](const char* domain, const char* op, const std::string& stem, AcceptsFn acc, KernelFn fn) {
    r.add({domain, op, stem + "_f32__" + suffix, Device::kCpu, I, priority, acc, nullptr, fn});
  };
  add("", "Add", "add", accepts_binary, binary_kernel<I, BinaryOpF32::kAdd>);
  add("", "Sub", "sub", accepts_binary, binary_kernel<I, BinaryOpF32::kSub>);
  add("", "Mul", "mul", accepts_binary, binary_kernel<I, BinaryOpF32::kMul>);
  add("", "Div", "div", accepts_binary, binary_kernel<I, BinaryOpF32::kDiv>);
  add("", "Max", "max", accepts_binary, binary_kernel<I, BinaryOpF32::kMax>);
  add("", "Min", "min", accepts_binary, binary_kernel<I, BinaryOpF32::kMin>);
  add("", "Pow", "pow2", accepts_square, unary_kernel<I, UnaryOpF32::kSquare>);
  add("", "Relu", "relu", accepts_unary, unary_kernel<I, UnaryOpF32::kRelu>);
  add("", "LeakyRelu", "leaky_relu", accepts_unary, unary_kernel<I, UnaryOpF32::kLeakyRelu>);
  add("", "Sigmoid", "sigmoid", accepts_unary, unary_kernel<I, UnaryOpF32::kSigmoid>);
  add("", "Tanh", "tanh", accepts_unary, unary_kernel<I, UnaryOpF32::kTanh>);
  add("", "Erf", "erf", accepts_unary, unary_kernel<I, UnaryOpF32::kErf>);
  add("", "Gelu", "gelu", accepts_unary, gelu_kernel<I>);
  add("com.microsoft", "Gelu", "ms_gelu", accepts_unary, gelu_kernel<I>);
  add("com.microsoft", "FastGelu", "ms_fast_gelu", accepts_fast_gelu, fast_gelu_kernel<I>);
  add("", "HardSwish", "hard_swish", accepts_unary, unary_kernel<I, UnaryOpF32::kHardSwish>);
  add("", "HardSigmoid", "hard_sigmoid", accepts_unary, unary_kernel<I, UnaryOpF32::kHardSigmoid>);
  add("", "Clip", "clip", accepts_clip, unary_kernel<I, UnaryOpF32::kClip>);
  add("", "Exp", "exp", accepts_unary, unary_kernel<I, UnaryOpF32::kExp>);
  add("", "Sqrt", "sqrt", accepts_unary, unary_kernel<I, UnaryOpF32::kSqrt>);
  add("", "Neg", "neg", accepts_unary, unary_kernel<I, UnaryOpF32::kNeg>);
}

}  // namespace

void register_cpu_elementwise(KernelRegistry& r) {
  register_isa<Isa::kAvx2>(r, "avx2", 10);
  register_isa<Isa::kAvx512>(r, "avx512", 20);
}

}  // namespace joule::kernels::cpu
