// Optimized kernels for joule.QConv, joule.QGemm and joule.DynQMatMul on the exact int16 GEMM
// (kernels/cpu/qgemm_s16.h); the reference kernels are kernels/ref/qfused.cpp.
//   QConv:  per image n and group g:  Y[OCg, P] = requant(W16[OCg, kp] x col16[kp, P])
//           col16[(ic*KD + kd)*KH*KW + kh*KW + kw][p] = X[...] - x_zp (0 in the padding), P = OD*OH*OW;
//           W16 = W - w_zp[oc] is widened once in prepare; col16 is built per run (parallel over rows; 1x1
//           unit-stride convolutions skip it and pack panels from X directly),
//           then each worker packs 16 positions at a time into a panel and runs every OC block against it.
//   QGemm:  Y[M, N] = requant(A16[M, kp] x W16 panels), W16 = W - w_zp[n] packed in prepare.
//   DynQMatMul: DynamicQuantizeLinear(A) per tensor -> A16 = q - zp, then float(acc) * (a_scale * w_scale[n]) (+ bias).
// Each output element is summed by one micro-kernel call in a fixed order, so results do not depend on threads.
// These are the fallback of the u8 x s8 kernels (kernels/cpu/qgemm_u8s8.cpp) for weights whose pair sums
// could saturate vpmaddubsw on CPUs without VNNI (full-range 8-bit weights).
#include <algorithm>
#include <memory>

#include "kernels/cpu/qgemm_node_params.h"
#include "kernels/cpu/qgemm_s16.h"
#include "kernels/kernel_registry.h"
#include "kernels/ref/qfused_requant.h"
#include "kernels/ref/quant_common.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels::cpu {

void qgemm_s16_tile_ref(int mr, int64_t kp, const int16_t* const* rows, const int16_t* panel, int32_t* tile) {
  for (int i = 0; i < mr; ++i)
    for (int64_t j = 0; j < kQgemmNr; ++j) {
      int32_t s = 0;
      for (int64_t p = 0; p < kp; ++p) s += int32_t{rows[i][p]} * panel[((p / 2) * kQgemmNr + j) * 2 + (p % 2)];
      tile[i * kQgemmNr + j] = s;
    }
}

void qpack_panel_s16(const int16_t* src, int64_t ld, int64_t k, int64_t j0, int64_t nc, int16_t* panel) {
  const int64_t kp = qgemm_kp(k);
  for (int64_t p = 0; p < kp; ++p)
    for (int64_t j = 0; j < kQgemmNr; ++j)
      panel[((p / 2) * kQgemmNr + j) * 2 + (p % 2)] = (p < k && j < nc) ? src[p * ld + j0 + j] : int16_t{0};
}

namespace {
bool always() { return true; }
bool has_avxvnni() { return cpu_features().avxvnni; }
}  // namespace

const std::vector<QgemmUkernel>& qgemm_s16_ukernels() {
  static const std::vector<QgemmUkernel> k = {
      {"qgemm_s16_6x16__avx2", Isa::kAvx2, 6, qgemm_s16_6x16__avx2, always},
      {"qgemm_s16_6x16__avxvnni", Isa::kAvx2, 6, qgemm_s16_6x16__avxvnni, has_avxvnni},
      {"qgemm_s16_12x16__avx512", Isa::kAvx512, 12, qgemm_s16_12x16__avx512, always},
      {"qgemm_s16_12x16__avx512vnni", Isa::kAvx512Vnni, 12, qgemm_s16_12x16__avx512vnni, always},
  };
  return k;
}

namespace {

using quant::load_q;

const QgemmUkernel& uk(int u) { return qgemm_s16_ukernels()[static_cast<size_t>(u)]; }
constexpr int kMaxMr = 12;
constexpr int64_t kMaxK = kQgemmMaxK;


bool is_8bit(DType t) { return t == DType::kU8 || t == DType::kI8; }
// Activation types may be unknown where inference stopped (dynamic shapes): run() checks them.
bool maybe_8bit(DType t) { return is_8bit(t) || t == DType::kUndefined; }
bool maybe_f32(DType t) { return t == DType::kF32 || t == DType::kUndefined; }
bool constant(const KernelQuery& q, size_t i) { return i < q.constant_inputs.size() && q.constant_inputs[i]; }
const Tensor& cin(const KernelQuery& q, size_t i) { return *q.constant_inputs[i]; }
float fparam(const Tensor& t, int64_t i) { return static_cast<float>(t.value_as_double(t.numel() == 1 ? 0 : i)); }
int32_t iparam(const Tensor& t, int64_t i) { return load_q(t, t.numel() == 1 ? 0 : i); }

// Output range narrowed by the fused activation (see kernels/ref/qfused.cpp).
void out_range(const ir::Node& n, DType t, int32_t& lo, int32_t& hi) {
  quant::q_range(t, lo, hi);
  lo = std::max<int32_t>(lo, static_cast<int32_t>(n.attr_int("qmin", lo)));
  hi = std::min<int32_t>(hi, static_cast<int32_t>(n.attr_int("qmax", hi)));
}

// The node's parameters plus the int16 weights.
struct QuantState : QNodeParams {
  int64_t kp = 0;
  std::vector<int16_t> w16;    // QConv: rows [OC][kp]; QGemm / DynQMatMul: panels [ceil(N/16)][kp*16]
};

// Widens w (element (c, p) at w[c*cs + p*ps]) minus its zero point into rows [channels][kp].
void widen_rows(const Tensor& w, const Tensor* wz, int64_t channels, int64_t k, int64_t cs, int64_t ps, int64_t kp,
                std::vector<int16_t>& out) {
  out.assign(static_cast<size_t>(channels * kp), 0);
  for (int64_t c = 0; c < channels; ++c) {
    const int32_t z = wz ? iparam(*wz, c) : 0;
    for (int64_t p = 0; p < k; ++p) out[size_t(c * kp + p)] = static_cast<int16_t>(load_q(w, c * cs + p * ps) - z);
  }
}

// ---- QConv -----------------------------------------------------------------------------------

}  // namespace

bool qconv_node_accepts(const KernelQuery& q) {
  if (const Tensor* lut = q.node.attr_tensor("lut"); lut && (lut->numel() != 256 || !is_8bit(lut->dtype()))) return false;
  if (q.inputs.size() < 8 || !maybe_8bit(q.inputs[0].dtype) || !constant(q, 3)) return false;
  for (size_t i : {1, 2, 4, 5, 6, 7})
    if (!constant(q, i)) return false;
  if (q.inputs.size() > 8 && q.inputs[8].dtype != DType::kUndefined && !constant(q, 8)) return false;
  const Tensor& w = cin(q, 3);
  if (!is_8bit(w.dtype()) || w.rank() < 3 || w.rank() > 5) return false;
  for (size_t i : {1, 2, 6, 7})
    if (cin(q, i).numel() != 1) return false;
  for (size_t i : {4, 5})
    if (cin(q, i).numel() != 1 && cin(q, i).numel() != w.dim(0)) return false;
  const int64_t group = q.node.attr_int("group", 1);
  return group >= 1 && w.dim(0) % group == 0 && w.numel() / w.dim(0) <= kMaxK;
}

void qnode_common_params(const KernelQuery& q, int64_t channels, size_t ws_i, size_t bias_i, QNodeParams& s) {
  const float xs = fparam(cin(q, 1), 0), ys = fparam(cin(q, 6), 0);
  s.xz = load_q(cin(q, 2), 0);
  s.yz = load_q(cin(q, 7), 0);
  s.x_type = cin(q, 2).dtype();
  s.x_signed = s.x_type == DType::kI8;
  s.y_signed = cin(q, 7).dtype() == DType::kI8;
  out_range(q.node, cin(q, 7).dtype(), s.lo, s.hi);
  if (const Tensor* lut = q.node.attr_tensor("lut"))
    s.lut.assign(static_cast<const uint8_t*>(lut->raw()), static_cast<const uint8_t*>(lut->raw()) + 256);
  s.channels = channels;
  s.mult.resize(size_t(channels));
  s.bias.assign(size_t(channels), 0);
  for (int64_t c = 0; c < channels; ++c) s.mult[size_t(c)] = quant::requant_multiplier(xs, fparam(cin(q, ws_i), c), ys);
  if (constant(q, bias_i) && cin(q, bias_i).numel() == channels)
    for (int64_t c = 0; c < channels; ++c) s.bias[size_t(c)] = load_q(cin(q, bias_i), c);
}

int32_t qnode_int_param(const Tensor& t, int64_t c) { return iparam(t, c); }

void qgemm_node_kn(const KernelQuery& q, int64_t& k, int64_t& n) {
  const Tensor& w = cin(q, 3);
  const bool trans = q.node.attr_int("transB", 0) != 0;
  k = trans ? w.dim(1) : w.dim(0), n = trans ? w.dim(0) : w.dim(1);
}

void qnode_parallel(ThreadPool* pool, int64_t n, RangeFn fn) {
  if (pool && pool->threads() > 1 && n > 1) pool->parallel_for(n, 1, fn);
  else fn(0, n);
}

Status qnode_run_reference(KernelContext& ctx) {
  return KernelRegistry::builtin().reference(ctx.node.domain, ctx.node.op_type)->run(ctx);
}

Status qconv_run_shape(KernelContext& ctx, const QNodeParams* s, QConvRunShape& out) {
  const Tensor& x = ctx.in(0);
  if (!s || s->w_shape != ctx.in(3).shape()) return ctx.fail("weights changed after prepare");
  if (x.rank() != static_cast<int64_t>(s->w_shape.size())) return ctx.fail("input and weight ranks differ");
  out.group = ctx.node.attr_int("group", 1);
  out.n = x.dim(0), out.c = x.dim(1), out.m = s->w_shape[0];
  if (out.c % out.group != 0 || s->w_shape[1] * out.group != out.c) return ctx.fail("channels do not match group");
  std::string err = ops::resolve_window(ctx.node, Shape(x.shape().begin() + 2, x.shape().end()),
                                        std::vector<int64_t>(s->w_shape.begin() + 2, s->w_shape.end()), ops::WindowRounding::kFloor, out.g);
  if (!err.empty()) return ctx.fail(err);
  out.g = out.g.as_3d();
  out.icg = out.c / out.group, out.mg = out.m / out.group, out.in_plane = out.g.in_size(), out.p = out.g.out_size();
  if (ctx.out(0).numel() != out.n * out.m * out.p) return ctx.fail("output shape does not match the convolution");
  out.pointwise = true;
  for (size_t i = 0; i < 3; ++i)
    out.pointwise = out.pointwise && out.g.kernel[i] == 1 && out.g.strides[i] == 1 && out.g.pad_begin[i] == 0 && out.g.pad_end[i] == 0;
  return Status::ok();
}

namespace {

Status qconv_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor& w = cin(q, 3);
  auto s = std::make_shared<QuantState>();
  s->w_shape = w.shape();
  s->k = w.numel() / w.dim(0);
  s->kp = qgemm_kp(s->k);
  widen_rows(w, &cin(q, 5), w.dim(0), s->k, s->k, 1, s->kp, s->w16);
  qnode_common_params(q, w.dim(0), 4, 8, *s);
  state = s;
  return Status::ok();
}

// col16 rows [k0, k1) of one group of one image (x at its first channel, 3-D geometry).
void im2col_s16(const uint8_t* x, const QuantState& s, const ops::WindowGeometry& g, int64_t k0, int64_t k1, int16_t* col) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2], OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2], P = OD * OH * OW;
  for (int64_t r = k0; r < k1; ++r) {
    const int64_t kw = r % KW, kh = (r / KW) % KH, kd = (r / (KW * KH)) % KD, ic = r / (KW * KH * KD);
    const uint8_t* xc = x + ic * D * H * W;
    int16_t* dst = col + r * P;
    const int64_t off = kw * g.dilations[2] - g.pad_begin[2];
    for (int64_t od = 0; od < OD; ++od) {
      const int64_t id = od * g.strides[0] - g.pad_begin[0] + kd * g.dilations[0];
      for (int64_t oh = 0; oh < OH; ++oh) {
        int16_t* d = dst + (od * OH + oh) * OW;
        const int64_t ih = oh * g.strides[1] - g.pad_begin[1] + kh * g.dilations[1];
        if (id < 0 || id >= D || ih < 0 || ih >= H) {
          std::fill(d, d + OW, int16_t{0});
          continue;
        }
        const uint8_t* xr = xc + (id * H + ih) * W;
        if (g.strides[2] == 1) {
          const int64_t lo = std::clamp<int64_t>(-off, 0, OW), hi = std::clamp<int64_t>(W - off, lo, OW);
          std::fill(d, d + lo, int16_t{0});
          qwiden_s16__avx2(xr + lo + off, s.x_signed, s.xz, hi - lo, d + lo);
          std::fill(d + hi, d + OW, int16_t{0});
        } else {
          for (int64_t ow = 0; ow < OW; ++ow) {
            const int64_t iw = ow * g.strides[2] + off;
            d[ow] = (iw >= 0 && iw < W) ? static_cast<int16_t>((s.x_signed ? int32_t{static_cast<int8_t>(xr[iw])} : int32_t{xr[iw]}) - s.xz)
                                        : int16_t{0};
          }
        }
      }
    }
  }
}

template <int U>
Status qconv_run(KernelContext& ctx) {
  const QgemmUkernel& k = uk(U);
  auto* s = static_cast<const QuantState*>(ctx.state);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  if (x.dtype() != (s ? s->x_type : DType::kU8)) return qnode_run_reference(ctx);
  QConvRunShape rs;
  if (Status st = qconv_run_shape(ctx, s, rs); !st.is_ok()) return st;
  const ops::WindowGeometry& g = rs.g;
  const int64_t group = rs.group, N = rs.n, C = rs.c, M = rs.m;
  const int64_t icg = rs.icg, mg = rs.mg, in_plane = rs.in_plane, P = rs.p, kdim = s->k, kp = s->kp;
  const bool pointwise = rs.pointwise;
  thread_local std::vector<int16_t> col;
  if (!pointwise) col.resize(static_cast<size_t>(kdim * P));
  int16_t* colp = col.data();
  const int64_t panels = (P + kQgemmNr - 1) / kQgemmNr;
  const uint8_t* xb = static_cast<const uint8_t*>(x.raw());
  uint8_t* yb = static_cast<uint8_t*>(y.raw());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gi = 0; gi < group; ++gi) {
      const uint8_t* xg = xb + (n * C + gi * icg) * in_plane;
      const int64_t rows_per_task = std::max<int64_t>(1, kdim / 16);
      if (!pointwise)
        qnode_parallel(ctx.pool, (kdim + rows_per_task - 1) / rows_per_task, [&](int64_t b, int64_t e) {
          im2col_s16(xg, *s, g, b * rows_per_task, std::min(kdim, e * rows_per_task), colp);
        });
      qnode_parallel(ctx.pool, panels, [&](int64_t b, int64_t e) {
        thread_local std::vector<int16_t> panel;
        panel.resize(static_cast<size_t>(kp * kQgemmNr));
        alignas(64) int32_t tile[kMaxMr * kQgemmNr];
        for (int64_t pi = b; pi < e; ++pi) {
          const int64_t p0 = pi * kQgemmNr, nc = std::min(kQgemmNr, P - p0);
          if (pointwise) qpack_panel_u8__avx2(xg, P, kdim, p0, nc, s->x_signed, s->xz, panel.data());
          else qpack_panel_s16__avx2(colp, P, kdim, p0, nc, panel.data());
          for (int64_t m0 = 0; m0 < mg; m0 += k.mr) {
            const int64_t mv = std::min<int64_t>(k.mr, mg - m0);
            const int16_t* rows[kMaxMr];
            for (int i = 0; i < k.mr; ++i) rows[i] = s->w16.data() + (gi * mg + m0 + std::min<int64_t>(i, mv - 1)) * kp;
            k.fn(kp, rows, panel.data(), tile);
            for (int64_t i = 0; i < mv; ++i) {
              const int64_t oc = gi * mg + m0 + i;
              QRequant rq;
              rq.bias = &s->bias[size_t(oc)];
              rq.mult = &s->mult[size_t(oc)];
              rq.zp = s->yz, rq.lo = s->lo, rq.hi = s->hi, rq.out_signed = s->y_signed;
              rq.lut = s->lut.empty() ? nullptr : s->lut.data();
              qrequant_row__avx2(tile + i * kQgemmNr, nc, rq, yb + (n * M + oc) * P + p0);
            }
          }
        }
      });
    }
  return Status::ok();
}

// ---- QGemm / DynQMatMul: rows of A against packed weight panels --------------------------------

// Packs W (element (p, j) at w[p*ps + j*js]) minus w_zp[j] into panels [ceil(N/16)][kp*16].
void pack_weight_panels(const Tensor& w, const Tensor* wz, int64_t k, int64_t n, int64_t ps, int64_t js, QuantState& s) {
  s.k = k;
  s.kp = qgemm_kp(k);
  std::vector<int16_t> rows;  // [K][N] widened
  rows.resize(size_t(k * n));
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j) rows[size_t(p * n + j)] = static_cast<int16_t>(load_q(w, p * ps + j * js) - (wz ? iparam(*wz, j) : 0));
  const int64_t panels = (n + kQgemmNr - 1) / kQgemmNr;
  s.w16.resize(size_t(panels * s.kp * kQgemmNr));
  for (int64_t pi = 0; pi < panels; ++pi)
    qpack_panel_s16(rows.data(), n, k, pi * kQgemmNr, std::min(kQgemmNr, n - pi * kQgemmNr), s.w16.data() + pi * s.kp * kQgemmNr);
}

// Runs A16 [m][kp] x panels; finish(row, j0, nc, tile_row) writes one tile row.
template <class Finish>
void rows_x_panels(const QgemmUkernel& k, ThreadPool* pool, const int16_t* a16, int64_t m, const QuantState& s, Finish finish) {
  const int64_t n = s.channels, panels = (n + kQgemmNr - 1) / kQgemmNr, kp = s.kp;
  const int64_t mblocks = (m + k.mr - 1) / k.mr;
  qnode_parallel(pool, panels * mblocks, [&](int64_t b, int64_t e) {
    alignas(64) int32_t tile[kMaxMr * kQgemmNr];
    for (int64_t t = b; t < e; ++t) {
      const int64_t pi = t % panels, m0 = (t / panels) * k.mr, mv = std::min<int64_t>(k.mr, m - m0);
      const int16_t* rows[kMaxMr];
      for (int i = 0; i < k.mr; ++i) rows[i] = a16 + (m0 + std::min<int64_t>(i, mv - 1)) * kp;
      k.fn(kp, rows, s.w16.data() + pi * kp * kQgemmNr, tile);
      const int64_t j0 = pi * kQgemmNr, nc = std::min(kQgemmNr, n - j0);
      for (int64_t i = 0; i < mv; ++i) finish(m0 + i, j0, nc, tile + i * kQgemmNr);
    }
  });
}

}  // namespace

bool qgemm_node_accepts(const KernelQuery& q) {
  if (const Tensor* lut = q.node.attr_tensor("lut"); lut && (lut->numel() != 256 || !is_8bit(lut->dtype()))) return false;
  if (q.inputs.size() < 8 || !maybe_8bit(q.inputs[0].dtype) || !constant(q, 3)) return false;
  for (size_t i : {1, 2, 4, 5, 6, 7})
    if (!constant(q, i)) return false;
  if (q.inputs.size() > 8 && q.inputs[8].dtype != DType::kUndefined && !constant(q, 8)) return false;
  const Tensor& w = cin(q, 3);
  if (!is_8bit(w.dtype()) || w.rank() != 2) return false;
  const bool trans = q.node.attr_int("transB", 0) != 0;
  const int64_t k = trans ? w.dim(1) : w.dim(0), n = trans ? w.dim(0) : w.dim(1);
  for (size_t i : {1, 2, 6, 7})
    if (cin(q, i).numel() != 1) return false;
  for (size_t i : {4, 5})
    if (cin(q, i).numel() != 1 && cin(q, i).numel() != n) return false;
  return k <= kMaxK;
}

namespace {

Status qgemm_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor& w = cin(q, 3);
  const bool trans = q.node.attr_int("transB", 0) != 0;
  const int64_t k = trans ? w.dim(1) : w.dim(0), n = trans ? w.dim(0) : w.dim(1);
  auto s = std::make_shared<QuantState>();
  s->w_shape = w.shape();
  pack_weight_panels(w, &cin(q, 5), k, n, trans ? 1 : n, trans ? k : 1, *s);
  qnode_common_params(q, n, 4, 8, *s);
  state = s;
  return Status::ok();
}

// A (8-bit [..., K]) widened to thread-local rows [M][kp].
const int16_t* widen_a(const Tensor& a, bool is_signed, int32_t zp, int64_t m, int64_t k, int64_t kp, ThreadPool* pool) {
  thread_local std::vector<int16_t> a16;
  a16.resize(static_cast<size_t>(m * kp));
  int16_t* dst = a16.data();
  const uint8_t* src = static_cast<const uint8_t*>(a.raw());
  qnode_parallel(pool, m, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      qwiden_s16__avx2(src + i * k, is_signed, zp, k, dst + i * kp);
      if (kp != k) dst[i * kp + k] = 0;
    }
  });
  return dst;
}

template <int U>
Status qgemm_run(KernelContext& ctx) {
  auto* s = static_cast<const QuantState*>(ctx.state);
  const Tensor& a = ctx.in(0);
  if (a.dtype() != (s ? s->x_type : DType::kU8)) return qnode_run_reference(ctx);
  if (!s || s->w_shape != ctx.in(3).shape()) return ctx.fail("weights changed after prepare");
  if (a.rank() < 1 || a.dim(a.rank() - 1) != s->k) return ctx.fail("input's last dimension must be " + std::to_string(s->k));
  const int64_t m = a.numel() / std::max<int64_t>(s->k, 1), n = s->channels;
  const int16_t* a16 = widen_a(a, s->x_signed, s->xz, m, s->k, s->kp, ctx.pool);
  uint8_t* y = static_cast<uint8_t*>(ctx.out(0).raw());
  rows_x_panels(uk(U), ctx.pool, a16, m, *s, [&](int64_t i, int64_t j0, int64_t nc, const int32_t* t) {
    QRequant rq;
    rq.bias = s->bias.data() + j0;
    rq.bias_step = 1;
    rq.mult = s->mult.data() + j0;
    rq.mult_step = 1;
    rq.zp = s->yz, rq.lo = s->lo, rq.hi = s->hi, rq.out_signed = s->y_signed;
    rq.lut = s->lut.empty() ? nullptr : s->lut.data();
    qrequant_row__avx2(t, nc, rq, y + i * n + j0);
  });
  return Status::ok();
}

}  // namespace

bool dynq_node_accepts(const KernelQuery& q) {
  if (q.inputs.size() < 4 || !maybe_f32(q.inputs[0].dtype) || !constant(q, 1) || !constant(q, 2) || !constant(q, 3)) return false;
  if (q.inputs.size() > 4 && q.inputs[4].dtype != DType::kUndefined && !constant(q, 4)) return false;
  const Tensor& w = cin(q, 1);
  if (!is_8bit(w.dtype()) || w.rank() != 2 || w.dim(0) > kMaxK) return false;
  for (size_t i : {2, 3})
    if (cin(q, i).numel() != 1 && cin(q, i).numel() != w.dim(1)) return false;
  return !constant(q, 4) || (cin(q, 4).dtype() == DType::kF32 && cin(q, 4).numel() == w.dim(1));
}

namespace {

struct DynState : QuantState {
  std::vector<float> w_scale, fbias;
};

Status dynq_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor& w = cin(q, 1);
  auto s = std::make_shared<DynState>();
  s->w_shape = w.shape();
  s->channels = w.dim(1);
  pack_weight_panels(w, &cin(q, 2), w.dim(0), w.dim(1), w.dim(1), 1, *s);
  for (int64_t j = 0; j < w.dim(1); ++j) s->w_scale.push_back(fparam(cin(q, 3), j));
  if (constant(q, 4))
    s->fbias.assign(cin(q, 4).data<float>(), cin(q, 4).data<float>() + w.dim(1));
  state = s;
  return Status::ok();
}

template <int U>
Status dynq_run(KernelContext& ctx) {
  auto* s = static_cast<const DynState*>(ctx.state);
  const Tensor& a = ctx.in(0);
  if (a.dtype() != DType::kF32) return qnode_run_reference(ctx);
  if (!s || s->w_shape != ctx.in(1).shape()) return ctx.fail("weights changed after prepare");
  if (a.rank() < 1 || a.dim(a.rank() - 1) != s->k) return ctx.fail("input's last dimension must be " + std::to_string(s->k));
  const int64_t m = a.numel() / std::max<int64_t>(s->k, 1), n = s->channels, k = s->k, kp = s->kp;
  float as;
  int32_t az;
  if (!qdynamic_range__avx2(a.data<float>(), a.numel(), as, az)) return ctx.fail("input contains NaN");
  thread_local std::vector<int16_t> a16;
  thread_local std::vector<float> scale;
  a16.resize(static_cast<size_t>(m * kp));
  scale.resize(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) scale[size_t(j)] = as * s->w_scale[size_t(j)];
  int16_t* dst = a16.data();
  const float* src = a.data<float>();
  qnode_parallel(ctx.pool, m, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      qdynamic_quantize_s16__avx2(src + i * k, k, as, az, dst + i * kp);
      if (kp != k) dst[i * kp + k] = 0;
    }
  });
  float* y = ctx.out(0).data<float>();
  const float* sc = scale.data();
  rows_x_panels(uk(U), ctx.pool, dst, m, *s, [&](int64_t i, int64_t j0, int64_t nc, const int32_t* t) {
    qscale_row_f32__avx2(t, nc, sc + j0, s->fbias.empty() ? nullptr : s->fbias.data() + j0, y + i * n + j0);
  });
  return Status::ok();
}

template <int U>
bool runs_here(const KernelQuery&) { return uk(U).runs_here(); }
template <int U>
bool qconv_ok(const KernelQuery& q) { return uk(U).runs_here() && qconv_node_accepts(q); }
template <int U>
bool qgemm_ok(const KernelQuery& q) { return uk(U).runs_here() && qgemm_node_accepts(q); }
template <int U>
bool dynq_ok(const KernelQuery& q) { return uk(U).runs_here() && dynq_node_accepts(q); }

template <int U>
void add_all(KernelRegistry& r, int priority) {
  const std::string suffix = std::string(uk(U).name).substr(std::string("qgemm_s16_").size());
  r.add({"joule", "QConv", "qconv_s16_" + suffix, Device::kCpu, uk(U).isa, priority, qconv_ok<U>, qconv_prepare, qconv_run<U>});
  r.add({"joule", "QGemm", "qgemm_s16_" + suffix, Device::kCpu, uk(U).isa, priority, qgemm_ok<U>, qgemm_prepare, qgemm_run<U>});
  r.add({"joule", "DynQMatMul", "dynq_matmul_s16_" + suffix, Device::kCpu, uk(U).isa, priority, dynq_ok<U>, dynq_prepare,
         dynq_run<U>});
}

}  // namespace

void register_cpu_qgemm_u8s8(KernelRegistry& r);  // kernels/cpu/qgemm_u8s8.cpp (priorities 15-17)

void register_cpu_qgemm(KernelRegistry& r) {
  register_cpu_qgemm_u8s8(r);
  add_all<0>(r, 11);  // avx2
  add_all<1>(r, 12);  // avx-vnni
  add_all<2>(r, 13);  // avx512bw
  add_all<3>(r, 14);  // avx512 vnni
}

}  // namespace joule::kernels::cpu
