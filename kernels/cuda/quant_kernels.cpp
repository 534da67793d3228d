// CUDA kernels of quantized ops: QLinearMatMul and MatMulInteger on the tensor-core INT8 GEMM
// (gemm_s8_mma.cu) and com.microsoft MatMulNBits (4-bit) on the weight-only GEMV (gemv_q4_weight_only.cu).
//
// Prepare (once, at session build) packs the constant weight as Bt = (B - b_zero_point) transposed to
// [N][K rounded up to 32] int8 (refused when B - zp leaves [-128, 127]), folds the A zero point into a
// per-column int32 offset (-a_zp * sum_k Bt[n][k]) and forms the requantization multiplier per column in
// float as the reference does (a_scale * b_scale[n] / y_scale), so results are bit-exact with it.
#include <algorithm>

#include "kernels/cuda/cuda_kernel_def.h"
#include "runtime/ops/matmul_nbits_format.h"

namespace joule::kernels::cuda {

namespace {

bool is_q8(DType t) { return t == DType::kU8 || t == DType::kI8; }

/// A host vector copied to new device memory.
template <class T>
Status to_device(const std::vector<T>& v, std::shared_ptr<void>& owner) {
  JOULE_RETURN_IF_ERROR(device_alloc(v.size() * sizeof(T), owner));
  return copy_host_to_device(owner.get(), v.data(), v.size() * sizeof(T), nullptr);
}

struct GemmS8State {
  int64_t k = 0, n = 0, k_pad = 0;
  std::shared_ptr<void> bt, col_offset, multiplier;  // device memory
  int32_t y_zero_point = 0;
  bool y_signed = false;
};

/// Constant scalar (numel 1) input i, or nullptr.
const Tensor* const_scalar(const KernelQuery& q, size_t i) {
  if (i >= q.constant_inputs.size() || !q.constant_inputs[i] || q.constant_inputs[i]->numel() != 1) return nullptr;
  return q.constant_inputs[i];
}

/// Constant with 1 or n elements, or nullptr.
const Tensor* const_per_column(const KernelQuery& q, size_t i, int64_t n) {
  if (i >= q.constant_inputs.size() || !q.constant_inputs[i]) return nullptr;
  const Tensor* t = q.constant_inputs[i];
  return t->numel() == 1 || (t->rank() == 1 && t->numel() == n) ? t : nullptr;
}

/// Packs B (constant [K, N]) and its zero points (b_zp_input, optional) into st; false when not representable.
bool pack_b(const KernelQuery& q, size_t b_input, size_t b_zp_input, int32_t a_zero_point, GemmS8State& st,
            std::vector<int8_t>& bt, std::vector<int32_t>& offset) {
  const Tensor* b = q.constant_inputs[b_input];
  if (!b || b->rank() != 2 || !is_q8(b->dtype())) return false;
  st.k = b->dim(0);
  st.n = b->dim(1);
  st.k_pad = (st.k + 31) / 32 * 32;
  const Tensor* zp = nullptr;
  if (b_zp_input < q.inputs.size() && q.inputs[b_zp_input].dtype != DType::kUndefined) {
    zp = const_per_column(q, b_zp_input, st.n);
    if (!zp) return false;
  }
  bt.assign(static_cast<size_t>(st.n * st.k_pad), 0);
  offset.assign(static_cast<size_t>(st.n), 0);
  for (int64_t j = 0; j < st.n; ++j) {
    const int64_t z = zp ? zp->value_as_int(zp->numel() == 1 ? 0 : j) : 0;
    int64_t sum = 0;
    for (int64_t p = 0; p < st.k; ++p) {
      const int64_t v = b->value_as_int(p * st.n + j) - z;
      if (v < -128 || v > 127) return false;
      bt[size_t(j * st.k_pad + p)] = static_cast<int8_t>(v);
      sum += v;
    }
    offset[size_t(j)] = static_cast<int32_t>(-int64_t{a_zero_point} * sum);
  }
  return true;
}

// ---- QLinearMatMul: a(0) a_scale(1) a_zp(2) b(3) b_scale(4) b_zp(5) y_scale(6) y_zp(7)
bool accepts_qlinear_matmul(const KernelQuery& q) {
  if (q.inputs.size() < 8 || !is_q8(q.inputs[0].dtype) || !q.inputs[0].rank_known || q.inputs[0].shape.empty()) return false;
  const Tensor* b = q.constant_inputs[3];
  if (!b || b->rank() != 2) return false;
  if (!const_scalar(q, 1) || !const_scalar(q, 2) || !const_per_column(q, 4, b->dim(1)) || !const_per_column(q, 5, b->dim(1)) ||
      !const_scalar(q, 6) || !const_scalar(q, 7))
    return false;
  GemmS8State st;
  std::vector<int8_t> bt;
  std::vector<int32_t> off;
  return pack_b(q, 3, 5, 0, st, bt, off);
}

Status prepare_qlinear_matmul(const KernelQuery& q, std::shared_ptr<const void>& state) {
  auto st = std::make_shared<GemmS8State>();
  std::vector<int8_t> bt;
  std::vector<int32_t> off;
  const int32_t za = static_cast<int32_t>(q.constant_inputs[2]->value_as_int(0));
  if (!pack_b(q, 3, 5, za, *st, bt, off)) return unsupported(q.node.label() + ": B - b_zero_point does not fit int8");
  const float sa = static_cast<float>(q.constant_inputs[1]->value_as_double(0));
  const float ys = static_cast<float>(q.constant_inputs[6]->value_as_double(0));
  const Tensor* sb = q.constant_inputs[4];
  std::vector<float> mult(static_cast<size_t>(st->n));
  for (int64_t j = 0; j < st->n; ++j) {
    const float sbj = static_cast<float>(sb->value_as_double(sb->numel() == 1 ? 0 : j));
    mult[size_t(j)] = sa * sbj / ys;  // the reference's float expression, in its order
  }
  st->y_zero_point = static_cast<int32_t>(q.constant_inputs[7]->value_as_int(0));
  st->y_signed = q.constant_inputs[7]->dtype() == DType::kI8;
  JOULE_RETURN_IF_ERROR(to_device(bt, st->bt));
  JOULE_RETURN_IF_ERROR(to_device(off, st->col_offset));
  JOULE_RETURN_IF_ERROR(to_device(mult, st->multiplier));
  state = st;
  return Status::ok();
}

GemmS8Params params_for(const GemmS8State& st, const Tensor& a, void* y) {
  GemmS8Params p;
  p.a = a.raw();
  p.a_signed = a.dtype() == DType::kI8;
  p.k = st.k;
  p.n = st.n;
  p.m = st.k == 0 ? 0 : a.numel() / st.k;
  p.lda = st.k;
  p.bt = static_cast<const int8_t*>(st.bt.get());
  p.k_pad = st.k_pad;
  p.col_offset = static_cast<const int32_t*>(st.col_offset.get());
  p.y = y;
  return p;
}

Status run_qlinear_matmul(KernelContext& ctx) {
  const auto& st = state_of<GemmS8State>(ctx);
  const Tensor& a = ctx.in(0);
  if (a.shape().back() != st.k) return ctx.fail("A's last dim is not K=" + std::to_string(st.k));
  GemmS8Params p = params_for(st, a, ctx.out(0).raw());
  p.multiplier = static_cast<const float*>(st.multiplier.get());
  p.y_zero_point = st.y_zero_point;
  p.y_signed = st.y_signed;
  return launch_gemm_s8_mma(p, stream_of_ctx(ctx));
}

// ---- MatMulInteger: A(0) B(1) a_zp(2)? b_zp(3)? -> int32
bool accepts_matmul_integer(const KernelQuery& q) {
  if (!is_q8(q.inputs[0].dtype) || !q.inputs[0].rank_known || q.inputs[0].shape.empty()) return false;
  if (q.inputs.size() > 2 && q.inputs[2].dtype != DType::kUndefined && !const_scalar(q, 2)) return false;
  GemmS8State st;
  std::vector<int8_t> bt;
  std::vector<int32_t> off;
  return pack_b(q, 1, 3, 0, st, bt, off);
}

Status prepare_matmul_integer(const KernelQuery& q, std::shared_ptr<const void>& state) {
  auto st = std::make_shared<GemmS8State>();
  std::vector<int8_t> bt;
  std::vector<int32_t> off;
  const Tensor* za = q.inputs.size() > 2 && q.inputs[2].dtype != DType::kUndefined ? q.constant_inputs[2] : nullptr;
  if (!pack_b(q, 1, 3, za ? static_cast<int32_t>(za->value_as_int(0)) : 0, *st, bt, off))
    return unsupported(q.node.label() + ": B - b_zero_point does not fit int8");
  JOULE_RETURN_IF_ERROR(to_device(bt, st->bt));
  JOULE_RETURN_IF_ERROR(to_device(off, st->col_offset));
  state = st;
  return Status::ok();
}

Status run_matmul_integer(KernelContext& ctx) {
  const auto& st = state_of<GemmS8State>(ctx);
  const Tensor& a = ctx.in(0);
  if (a.shape().back() != st.k) return ctx.fail("A's last dim is not K=" + std::to_string(st.k));
  return launch_gemm_s8_mma(params_for(st, a, ctx.out(0).raw()), stream_of_ctx(ctx));
}

// ---- MatMulNBits (com.microsoft, 4 bits): A(0) B(1) scales(2) zero_points(3)? g_idx(4)? bias(5)?
struct GemvQ4State {
  ops::MatMulNBitsShape s;
  std::shared_ptr<void> scales, zero_points, bias;  // device f32
};

float float_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kF16 ? static_cast<float>(t.data<Half>()[i]) : static_cast<float>(t.value_as_double(i));
}

bool accepts_matmul_nbits(const KernelQuery& q) {
  ops::MatMulNBitsShape s;
  if (!ops::MatMulNBitsShape::from_node(q.node, s).is_ok()) return false;
  if (!is_float(q.inputs[0].dtype) || q.inputs.size() < 3) return false;
  if (q.inputs.size() > 4 && q.inputs[4].dtype != DType::kUndefined) return false;  // g_idx
  const Tensor* b = q.constant_inputs[1];
  const Tensor* sc = q.constant_inputs[2];
  if (!b || b->dtype() != DType::kU8 || b->numel() != s.n * s.k_blocks * s.blob) return false;
  if (!sc || !is_float(sc->dtype()) || sc->numel() != s.n * s.k_blocks) return false;
  if (q.inputs.size() > 3 && q.inputs[3].dtype != DType::kUndefined) {
    const Tensor* zp = q.constant_inputs[3];
    if (!zp) return false;
    const bool packed = zp->dtype() == DType::kU8;
    if (!packed && !is_float(zp->dtype())) return false;
    if (zp->numel() != (packed ? s.n * s.zp_row : s.n * s.k_blocks)) return false;
  }
  if (q.inputs.size() > 5 && q.inputs[5].dtype != DType::kUndefined) {
    const Tensor* bias = q.constant_inputs[5];
    if (!bias || !is_float(bias->dtype()) || bias->numel() != s.n) return false;
  }
  return true;
}

Status prepare_matmul_nbits(const KernelQuery& q, std::shared_ptr<const void>& state) {
  auto st = std::make_shared<GemvQ4State>();
  JOULE_RETURN_IF_ERROR(ops::MatMulNBitsShape::from_node(q.node, st->s));
  const ops::MatMulNBitsShape& s = st->s;
  const Tensor& sc = *q.constant_inputs[2];
  std::vector<float> scales(static_cast<size_t>(s.n * s.k_blocks));
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = float_at(sc, static_cast<int64_t>(i));
  JOULE_RETURN_IF_ERROR(to_device(scales, st->scales));
  if (q.inputs.size() > 3 && q.inputs[3].dtype != DType::kUndefined) {
    const Tensor& zp = *q.constant_inputs[3];
    std::vector<float> z(scales.size());
    for (int64_t j = 0; j < s.n; ++j)
      for (int64_t b = 0; b < s.k_blocks; ++b)
        z[size_t(j * s.k_blocks + b)] = zp.dtype() == DType::kU8
                                            ? static_cast<float>(ops::nbits_packed_zero_point(zp.data<uint8_t>(), s, j, b))
                                            : float_at(zp, j * s.k_blocks + b);
    JOULE_RETURN_IF_ERROR(to_device(z, st->zero_points));
  }
  if (q.inputs.size() > 5 && q.inputs[5].dtype != DType::kUndefined) {
    const Tensor& bias = *q.constant_inputs[5];
    std::vector<float> bv(static_cast<size_t>(s.n));
    for (int64_t j = 0; j < s.n; ++j) bv[size_t(j)] = float_at(bias, j);
    JOULE_RETURN_IF_ERROR(to_device(bv, st->bias));
  }
  state = st;
  return Status::ok();
}

Status run_matmul_nbits(KernelContext& ctx) {
  const auto& st = state_of<GemvQ4State>(ctx);
  const Tensor& a = ctx.in(0);
  if (a.rank() < 1 || a.shape().back() != st.s.k) return ctx.fail("A's last dim is not K=" + std::to_string(st.s.k));
  GemvQ4Params p;
  p.t = a.dtype();
  p.a = a.raw();
  p.m = a.numel() / st.s.k;
  p.n = st.s.n;
  p.k = st.s.k;
  p.block = st.s.block;
  p.k_blocks = st.s.k_blocks;
  p.b = static_cast<const uint8_t*>(ctx.in(1).raw());
  p.scales = static_cast<const float*>(st.scales.get());
  p.zero_points = static_cast<const float*>(st.zero_points.get());
  p.bias = static_cast<const float*>(st.bias.get());
  p.y = ctx.out(0).raw();
  return launch_gemv_q4(p, stream_of_ctx(ctx));
}

// ---- QuantizeLinear / DequantizeLinear, per tensor: x(0) scale(1) zero_point(2)? (constant scalars)
struct QdqState {
  float scale = 1.f;
  int32_t zero_point = 0;
  bool q_signed = false;  // the 8-bit side is int8
};

bool per_tensor_params(const KernelQuery& q, QdqState& s) {
  const Tensor* sc = const_scalar(q, 1);
  if (!sc || sc->dtype() != DType::kF32) return false;
  s.scale = static_cast<float>(sc->value_as_double(0));
  if (q.inputs.size() > 2 && q.inputs[2].dtype != DType::kUndefined) {
    const Tensor* zp = const_scalar(q, 2);
    if (!zp || !is_q8(zp->dtype())) return false;
    s.zero_point = static_cast<int32_t>(zp->value_as_int(0));
    s.q_signed = zp->dtype() == DType::kI8;
  }
  return true;
}

bool accepts_quantize(const KernelQuery& q) {
  QdqState s;
  if (q.node.has_attr("output_dtype") || q.node.has_attr("saturate")) return false;  // opset 19+/21 variants
  return is_float(q.inputs[0].dtype) && per_tensor_params(q, s);
}

bool accepts_dequantize(const KernelQuery& q) {
  QdqState s;
  return is_q8(q.inputs[0].dtype) && per_tensor_params(q, s);
}

Status prepare_qdq(const KernelQuery& q, std::shared_ptr<const void>& state) {
  auto s = std::make_shared<QdqState>();
  if (!per_tensor_params(q, *s)) return unsupported(q.node.label() + ": needs a constant per-tensor scale and zero point on CUDA");
  if (q.node.op_type == "DequantizeLinear") s->q_signed = q.inputs[0].dtype == DType::kI8;
  state = s;
  return Status::ok();
}

Status run_quantize(KernelContext& ctx) {
  const auto& s = state_of<QdqState>(ctx);
  const Tensor& x = ctx.in(0);
  return launch_quantize_linear(x.dtype(), x.raw(), ctx.out(0).dtype() == DType::kI8, ctx.out(0).raw(), x.numel(), s.scale,
                                s.zero_point, stream_of_ctx(ctx));
}

Status run_dequantize(KernelContext& ctx) {
  const auto& s = state_of<QdqState>(ctx);
  const Tensor& x = ctx.in(0);
  if (ctx.out(0).dtype() != DType::kF32) return ctx.fail_unsupported("DequantizeLinear to a type other than float32 on CUDA");
  return launch_dequantize_linear(s.q_signed, x.raw(), ctx.out(0).data<float>(), x.numel(), s.scale, s.zero_point, stream_of_ctx(ctx));
}

}  // namespace

void register_cuda_quant(KernelRegistry& r) {
  r.add(cuda_kernel("", "QuantizeLinear", "quantize_linear_per_tensor__cuda", accepts_quantize, prepare_qdq, run_quantize));
  r.add(cuda_kernel("", "DequantizeLinear", "dequantize_linear_per_tensor__cuda", accepts_dequantize, prepare_qdq, run_dequantize));
  r.add(cuda_kernel("", "QLinearMatMul", "qlinear_matmul_s8_mma_m16n8k32__cuda", accepts_qlinear_matmul,
                    prepare_qlinear_matmul, run_qlinear_matmul));
  r.add(cuda_kernel("", "MatMulInteger", "matmul_integer_s8_mma_m16n8k32__cuda", accepts_matmul_integer,
                    prepare_matmul_integer, run_matmul_integer));
  r.add(cuda_kernel("com.microsoft", "MatMulNBits", "matmul_nbits_q4_gemv__cuda", accepts_matmul_nbits,
                    prepare_matmul_nbits, run_matmul_nbits));
}

}  // namespace joule::kernels::cuda
