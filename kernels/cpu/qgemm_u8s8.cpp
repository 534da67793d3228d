// joule.QConv, joule.QGemm and joule.DynQMatMul on the exact u8 x s8 GEMM (kernels/cpu/qgemm_u8s8.h); the
// reference kernels are kernels/ref/qfused.cpp, the fallback for weights outside the AVX2 pair bound is
// kernels/cpu/qgemm_s16.cpp. Activations are handled as u8 (s8 ones flipped by ^ 0x80, zero point + 128).
//   QConv:  per image n and group g:  Y[OCg, P] = requant(W8[OCg, kq] x col8[kq, P] + bias - xz * sum_k W8[oc])
//           col8[(ic*KD + kd)*KH*KW + kh*KW + kw][p] = X[...] (xz in the padding, so it adds nothing after the
//           correction), P = OD*OH*OW; W8 = W - w_zp[oc] as s8 rows, made once in prepare; col8 lives in
//           per-thread scratch (1x1 unit-stride convolutions skip it and pack panels from X directly);
//           each worker packs 16 positions at a time into a panel and runs every OC block against it.
//   QGemm:  Y[M, N] = requant(A8[M, kq] x W8 panels + bias - xz * colsum(W8)); A is read in place when K % 4 == 0.
//   DynQMatMul: DynamicQuantizeLinear(A) per tensor -> u8 rows, then float(acc - az * colsum) * (a_scale * w_scale[n]) (+ bias).
// Each output element is summed by one micro-kernel call in a fixed order, so results do not depend on threads.
#include "kernels/cpu/qgemm_u8s8.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>

#include "kernels/cpu/qgemm_node_params.h"
#include "kernels/cpu/qgemm_s16.h"
#include "kernels/ref/quant_common.h"
#include "runtime/ops/window_geometry.h"

namespace joule::kernels::cpu {

void qgemm_u8s8_tile_ref(int mr, int64_t kq, const uint8_t* const* rows, const uint8_t* panel, int32_t* tile, bool rows_unsigned) {
  for (int i = 0; i < mr; ++i)
    for (int64_t j = 0; j < kQgemmU8Nr; ++j) {
      int32_t s = 0;
      for (int64_t p = 0; p < kq; ++p) {
        const uint8_t r = rows[i][p], b = panel[((p / 4) * kQgemmU8Nr + j) * 4 + (p % 4)];
        s += rows_unsigned ? int32_t{r} * int32_t{static_cast<int8_t>(b)} : int32_t{static_cast<int8_t>(r)} * int32_t{b};
      }
      tile[i * kQgemmU8Nr + j] = s;
    }
}

void qpack_panel_u8q(const uint8_t* src, int64_t ld, int64_t k, int64_t j0, int64_t nc, uint8_t flip, uint8_t* panel) {
  const int64_t kq = qgemm_kq(k);
  for (int64_t p = 0; p < kq; ++p)
    for (int64_t j = 0; j < kQgemmU8Nr; ++j)
      panel[((p / 4) * kQgemmU8Nr + j) * 4 + (p % 4)] = (p < k && j < nc) ? static_cast<uint8_t>(src[p * ld + j0 + j] ^ flip) : uint8_t{0};
}

namespace {
bool always() { return true; }
bool has_avxvnni() { return cpu_features().avxvnni; }
}  // namespace

const std::vector<QgemmU8Ukernel>& qgemm_u8s8_ukernels() {
  static const std::vector<QgemmU8Ukernel> k = {
      {"6x16__avx2", Isa::kAvx2, 6, qgemm_u8s8_6x16__avx2, qgemm_s8u8_6x16__avx2, always, false},
      {"6x16__avxvnni", Isa::kAvx2, 6, qgemm_u8s8_6x16__avxvnni, qgemm_s8u8_6x16__avxvnni, has_avxvnni, true},
      {"12x32__avx512vnni", Isa::kAvx512Vnni, 12, qgemm_u8s8_12x16__avx512vnni, qgemm_s8u8_12x16__avx512vnni, always, true,
       qgemm_u8s8_12x32__avx512vnni, qgemm_s8u8_12x32__avx512vnni},
  };
  return k;
}

namespace {

using quant::load_q;

const QgemmU8Ukernel& uk(int u) { return qgemm_u8s8_ukernels()[static_cast<size_t>(u)]; }
constexpr int kMaxMr = 12;


const Tensor& cin(const KernelQuery& q, size_t i) { return *q.constant_inputs[i]; }
bool constant(const KernelQuery& q, size_t i) { return i < q.constant_inputs.size() && q.constant_inputs[i]; }

// The node's parameters, the s8 weights and the zero-point-corrected int32 bias.
struct U8State : QNodeParams {
  int64_t kq = 0;
  std::vector<uint8_t> w8;       // QConv: rows [OC][kq]; QGemm / DynQMatMul: panels [ceil(N/16)][kq*16]
  std::vector<int32_t> wsum;     // per channel: sum_k (w - w_zp)
  std::vector<int32_t> bias_eff; // QConv / QGemm: bias - xz_u8 * wsum
  std::vector<int32_t> mult_le_1;  // QConv: how many channels from c on have mult <= 1 (qrequant_rows16__avx2)
  std::vector<int32_t> lut32;      // QConv: `lut` widened for qrequant_rows16__avx512's gather (empty without a table)
  uint8_t flip = 0;              // 0x80 for s8 activations
  int32_t xz_u8 = 0;             // the activation zero point on the u8 scale
};

// Weight (channel c, k index p) minus its zero point, for an 8-bit weight tensor with element (c, p) at w[c*cs + p*ps].
struct WeightView {
  const uint8_t* w = nullptr;
  bool is_signed = true;
  std::vector<int32_t> zp;  // per channel
  int64_t cs = 0, ps = 0;
  WeightView(const Tensor& t, const Tensor* wz, int64_t channels, int64_t cs_, int64_t ps_)
      : w(static_cast<const uint8_t*>(t.raw())), is_signed(t.dtype() == DType::kI8), zp(size_t(channels), 0), cs(cs_), ps(ps_) {
    if (wz)
      for (int64_t c = 0; c < channels; ++c) zp[size_t(c)] = qnode_int_param(*wz, c);
  }
  int32_t operator()(int64_t c, int64_t p) const {
    const uint8_t b = w[c * cs + p * ps];
    return (is_signed ? int32_t{static_cast<int8_t>(b)} : int32_t{b}) - zp[size_t(c)];
  }
};

// For kernels without VNNI: every pair fits vpmaddubsw's int16 lanes; and the corrected bias fits int32.
bool weights_ok(const QgemmU8Ukernel& k, const WeightView& w, int64_t channels, int64_t kdim, const KernelQuery& q, size_t bias_i,
                size_t xz_i) {
  if (!k.runs_here()) return false;
  if (!k.any_weights && !qweights_fit_u8s8_pairs(channels, kdim, w)) return false;
  if (k.any_weights)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t p = 0; p < kdim; ++p)
        if (const int32_t v = w(c, p); v < -128 || v > 127) return false;
  const int64_t xz = xz_i == SIZE_MAX ? 255 : load_q(cin(q, xz_i), 0) + (cin(q, xz_i).dtype() == DType::kI8 ? 128 : 0);
  for (int64_t c = 0; c < channels; ++c) {
    int64_t sum = 0;
    for (int64_t p = 0; p < kdim; ++p) sum += w(c, p);
    const int64_t b = constant(q, bias_i) && cin(q, bias_i).numel() == channels ? load_q(cin(q, bias_i), c) : 0;
    if (b - xz * sum < std::numeric_limits<int32_t>::min() || b - xz * sum > std::numeric_limits<int32_t>::max()) return false;
  }
  return true;
}

WeightView conv_weights(const KernelQuery& q) {
  const Tensor& w = cin(q, 3);
  return WeightView(w, &cin(q, 5), w.dim(0), w.numel() / w.dim(0), 1);
}
WeightView gemm_weights(const KernelQuery& q) {
  int64_t k, n;
  qgemm_node_kn(q, k, n);
  const bool trans = q.node.attr_int("transB", 0) != 0;
  return WeightView(cin(q, 3), &cin(q, 5), n, trans ? k : 1, trans ? 1 : n);
}
WeightView dynq_weights(const KernelQuery& q) { return WeightView(cin(q, 1), &cin(q, 2), cin(q, 1).dim(1), 1, cin(q, 1).dim(1)); }

void finish_params(const WeightView& w, U8State& s, bool with_bias) {
  s.flip = s.x_signed ? 0x80 : 0;
  s.xz_u8 = s.xz + (s.x_signed ? 128 : 0);
  s.wsum.assign(size_t(s.channels), 0);
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t p = 0; p < s.k; ++p) s.wsum[size_t(c)] += w(c, p);
  if (with_bias) {
    s.bias_eff.resize(size_t(s.channels));
    for (int64_t c = 0; c < s.channels; ++c) s.bias_eff[size_t(c)] = s.bias[size_t(c)] - s.xz_u8 * s.wsum[size_t(c)];
  }
}

// Packs weights (channel j, k index p) into s8 panels [ceil(N/16)][kq/4][16][4].
void pack_weight_panels(const WeightView& w, int64_t k, int64_t n, U8State& s) {
  s.k = k;
  s.kq = qgemm_kq(k);
  const int64_t panels = (n + kQgemmU8Nr - 1) / kQgemmU8Nr;
  s.w8.assign(size_t(panels * s.kq * kQgemmU8Nr), 0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t p = 0; p < k; ++p)
      s.w8[size_t((j / kQgemmU8Nr) * s.kq * kQgemmU8Nr + ((p / 4) * kQgemmU8Nr + j % kQgemmU8Nr) * 4 + p % 4)] =
          static_cast<uint8_t>(static_cast<int8_t>(w(j, p)));
}

// ---- QConv -----------------------------------------------------------------------------------

template <int U>
bool qconv_ok(const KernelQuery& q) {
  if (!qconv_node_accepts(q) || !uk(U).runs_here()) return false;
  const Tensor& w = cin(q, 3);
  return weights_ok(uk(U), conv_weights(q), w.dim(0), w.numel() / w.dim(0), q, 8, 2);
}

Status qconv_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor& w = cin(q, 3);
  auto s = std::make_shared<U8State>();
  s->w_shape = w.shape();
  s->k = w.numel() / w.dim(0);
  s->kq = qgemm_kq(s->k);
  const WeightView wv = conv_weights(q);
  s->w8.assign(size_t(w.dim(0) * s->kq), 0);
  for (int64_t c = 0; c < w.dim(0); ++c)
    for (int64_t p = 0; p < s->k; ++p) s->w8[size_t(c * s->kq + p)] = static_cast<uint8_t>(static_cast<int8_t>(wv(c, p)));
  qnode_common_params(q, w.dim(0), 4, 8, *s);
  finish_params(wv, *s, true);
  s->lut32.assign(s->lut.begin(), s->lut.end());
  s->mult_le_1.assign(size_t(w.dim(0)) + 1, 0);
  for (int64_t c = w.dim(0) - 1; c >= 0; --c)
    s->mult_le_1[size_t(c)] = std::fabs(s->mult[size_t(c)]) <= 1.0f ? s->mult_le_1[size_t(c) + 1] + 1 : 0;
  state = s;
  return Status::ok();
}

// col8 rows [k0, k1) of one group of one image (x at its first channel, 3-D geometry); padding = xz_u8.
void im2col_u8(const uint8_t* x, const U8State& s, const ops::WindowGeometry& g, int64_t k0, int64_t k1, uint8_t* col, bool avx512) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2], OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2], P = OD * OH * OW;
  const uint8_t pad = static_cast<uint8_t>(s.xz_u8), flip = s.flip;
  for (int64_t r = k0; r < k1; ++r) {
    const int64_t kw = r % KW, kh = (r / KW) % KH, kd = (r / (KW * KH)) % KD, ic = r / (KW * KH * KD);
    const uint8_t* xc = x + ic * D * H * W;
    uint8_t* dst = col + r * P;
    const int64_t off = kw * g.dilations[2] - g.pad_begin[2];
    for (int64_t od = 0; od < OD; ++od) {
      const int64_t id = od * g.strides[0] - g.pad_begin[0] + kd * g.dilations[0];
      for (int64_t oh = 0; oh < OH; ++oh) {
        uint8_t* d = dst + (od * OH + oh) * OW;
        const int64_t ih = oh * g.strides[1] - g.pad_begin[1] + kh * g.dilations[1];
        if (id < 0 || id >= D || ih < 0 || ih >= H) {
          std::fill(d, d + OW, pad);
          continue;
        }
        const uint8_t* xr = xc + (id * H + ih) * W;
        if (avx512 && g.strides[2] <= 2) {
          qim2col_row_u8__avx512(xr, off, g.strides[2], W, OW, pad, flip, d);
        } else if (g.strides[2] == 1) {
          const int64_t lo = std::clamp<int64_t>(-off, 0, OW), hi = std::clamp<int64_t>(W - off, lo, OW);
          std::fill(d, d + lo, pad);
          if (flip) qcopy_flip_u8__avx2(xr + lo + off, flip, hi - lo, d + lo);
          else std::memcpy(d + lo, xr + lo + off, size_t(hi - lo));
          std::fill(d + hi, d + OW, pad);
        } else {
          const int64_t sw = g.strides[2];  // ow in [lo, hi) reads iw = ow * sw + off inside [0, W)
          const int64_t lo = std::clamp<int64_t>((-off + sw - 1) / sw, 0, OW);
          const int64_t hi = std::clamp<int64_t>(W - off > 0 ? (W - off + sw - 1) / sw : 0, lo, OW);
          std::fill(d, d + lo, pad);
          if (sw == 2) qgather_stride2_u8__avx2(xr + lo * 2 + off, flip, hi - lo, d + lo);
          else
            for (int64_t ow = lo; ow < hi; ++ow) d[ow] = static_cast<uint8_t>(xr[ow * sw + off] ^ flip);
          std::fill(d + hi, d + OW, pad);
        }
      }
    }
  }
}

template <int U>
Status qconv_run(KernelContext& ctx) {
  const QgemmU8Ukernel& k = uk(U);
  auto* s = static_cast<const U8State*>(ctx.state);
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  if (x.dtype() != (s ? s->x_type : DType::kU8)) return qnode_run_reference(ctx);
  QConvRunShape rs;
  if (Status st = qconv_run_shape(ctx, s, rs); !st.is_ok()) return st;
  const ops::WindowGeometry& g = rs.g;
  const int64_t group = rs.group, N = rs.n, C = rs.c, M = rs.m;
  const int64_t icg = rs.icg, mg = rs.mg, in_plane = rs.in_plane, P = rs.p, kdim = s->k, kq = s->kq;
  const bool pointwise = rs.pointwise;
  thread_local std::vector<uint8_t> col;  // per-thread scratch: grows to the largest layer once, then reused
  if (!pointwise && col.size() < static_cast<size_t>(kdim * P)) col.resize(static_cast<size_t>(kdim * P));
  uint8_t* colp = col.data();
  const int64_t panels = (P + kQgemmU8Nr - 1) / kQgemmU8Nr;
  const uint8_t* xb = static_cast<const uint8_t*>(x.raw());
  uint8_t* yb = static_cast<uint8_t*>(y.raw());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gi = 0; gi < group; ++gi) {
      const uint8_t* xg = xb + (n * C + gi * icg) * in_plane;
      const int64_t rows_per_task = std::max<int64_t>(1, kdim / 16);
      if (!pointwise)
        qnode_parallel(ctx.pool, (kdim + rows_per_task - 1) / rows_per_task, [&](int64_t b, int64_t e) {
          im2col_u8(xg, *s, g, b * rows_per_task, std::min(kdim, e * rows_per_task), colp, k.isa >= Isa::kAvx512Vnni);
        });
      const uint8_t* src = pointwise ? xg : colp;
      const uint8_t flip = pointwise ? s->flip : 0;  // col8 is flipped already
      // Work items: `step` adjacent 16-position panels (2 with an MR x 32 kernel), packed side by side.
      const int64_t step = k.s8u8_x2 ? 2 : 1, items = (panels + step - 1) / step, pstride = kq * kQgemmU8Nr;
      qnode_parallel(ctx.pool, items, [&](int64_t b, int64_t e) {
        thread_local std::vector<uint8_t> panel;
        if (panel.size() < static_cast<size_t>(2 * pstride)) panel.resize(static_cast<size_t>(2 * pstride));
        alignas(64) int32_t tile[2 * kMaxMr * kQgemmU8Nr];
        for (int64_t t = b; t < e; ++t) {
          const int64_t pi0 = t * step, np = std::min(step, panels - pi0);
          for (int64_t h = 0; h < np; ++h) {
            const int64_t p0 = (pi0 + h) * kQgemmU8Nr;
            qpack_panel_u8q__avx2(src, P, kdim, p0, std::min(kQgemmU8Nr, P - p0), flip, panel.data() + h * pstride);
          }
          for (int64_t m0 = 0; m0 < mg; m0 += k.mr) {
            const int64_t mv = std::min<int64_t>(k.mr, mg - m0);
            const uint8_t* rows[kMaxMr];
            for (int i = 0; i < k.mr; ++i) rows[i] = s->w8.data() + (gi * mg + m0 + std::min<int64_t>(i, mv - 1)) * kq;
            if (np == 2) k.s8u8_x2(kq, rows, panel.data(), pstride, tile);
            else k.s8u8(kq, rows, panel.data(), tile);
            const int64_t oc0 = gi * mg + m0;
            for (int64_t h = 0; h < np; ++h) {
              const int32_t* th = tile + h * k.mr * kQgemmU8Nr;
              const int64_t p0 = (pi0 + h) * kQgemmU8Nr, nc = std::min(kQgemmU8Nr, P - p0);
              if (k.isa >= Isa::kAvx512Vnni) {  // one call for any tile: masks, any multiplier, the table by gather
                qrequant_rows16__avx512(th, mv, nc, &s->bias_eff[size_t(oc0)], &s->mult[size_t(oc0)], s->yz, s->lo, s->hi, s->y_signed,
                                        s->lut32.empty() ? nullptr : s->lut32.data(), yb + (n * M + oc0) * P + p0, P);
                continue;
              }
              if (nc == kQgemmU8Nr && s->lut.empty() && s->mult_le_1[size_t(oc0)] >= mv) {  // the common case, one call
                qrequant_rows16__avx2(th, mv, &s->bias_eff[size_t(oc0)], &s->mult[size_t(oc0)], s->yz, s->lo, s->hi, s->y_signed,
                                      yb + (n * M + oc0) * P + p0, P);
                continue;
              }
              for (int64_t i = 0; i < mv; ++i) {
                const int64_t oc = oc0 + i;
                QRequant rq;
                rq.bias = &s->bias_eff[size_t(oc)];
                rq.mult = &s->mult[size_t(oc)];
                rq.zp = s->yz, rq.lo = s->lo, rq.hi = s->hi, rq.out_signed = s->y_signed;
                rq.lut = s->lut.empty() ? nullptr : s->lut.data();
                qrequant_row__avx2(th + i * kQgemmU8Nr, nc, rq, yb + (n * M + oc) * P + p0);
              }
            }
          }
        }
      });
    }
  return Status::ok();
}

// ---- QGemm / DynQMatMul: u8 rows of A against packed s8 weight panels ------------------------------

// Runs A8 rows [m][lda] (kq readable bytes each) x panels; finish(row, j0, nc, tile_row) writes one tile row.
// Panel-major order: a 16-column weight panel stays in L1 while every row block runs against it.
template <class Finish>
void rows_x_panels(const QgemmU8Ukernel& k, ThreadPool* pool, const uint8_t* a8, int64_t lda, int64_t m, const U8State& s, Finish finish) {
  const int64_t n = s.channels, panels = (n + kQgemmU8Nr - 1) / kQgemmU8Nr, kq = s.kq, pstride = kq * kQgemmU8Nr;
  const int64_t mblocks = (m + k.mr - 1) / k.mr, step = k.u8s8_x2 ? 2 : 1, pitems = (panels + step - 1) / step;
  qnode_parallel(pool, pitems * mblocks, [&](int64_t b, int64_t e) {
    alignas(64) int32_t tile[2 * kMaxMr * kQgemmU8Nr];
    for (int64_t t = b; t < e; ++t) {
      const int64_t pi0 = (t / mblocks) * step, np = std::min(step, panels - pi0), m0 = (t % mblocks) * k.mr, mv = std::min<int64_t>(k.mr, m - m0);
      const uint8_t* rows[kMaxMr];
      for (int i = 0; i < k.mr; ++i) rows[i] = a8 + (m0 + std::min<int64_t>(i, mv - 1)) * lda;
      const uint8_t* w = s.w8.data() + pi0 * pstride;
      if (np == 2) k.u8s8_x2(kq, rows, w, pstride, tile);
      else k.u8s8(kq, rows, w, tile);
      for (int64_t h = 0; h < np; ++h) {
        const int64_t j0 = (pi0 + h) * kQgemmU8Nr, nc = std::min(kQgemmU8Nr, n - j0);
        for (int64_t i = 0; i < mv; ++i) finish(m0 + i, j0, nc, tile + (h * k.mr + i) * kQgemmU8Nr);
      }
    }
  });
}

template <int U>
bool qgemm_ok(const KernelQuery& q) {
  if (!qgemm_node_accepts(q) || !uk(U).runs_here()) return false;
  int64_t k, n;
  qgemm_node_kn(q, k, n);
  return weights_ok(uk(U), gemm_weights(q), n, k, q, 8, 2);
}

Status qgemm_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  int64_t k, n;
  qgemm_node_kn(q, k, n);
  auto s = std::make_shared<U8State>();
  s->w_shape = cin(q, 3).shape();
  const WeightView wv = gemm_weights(q);
  pack_weight_panels(wv, k, n, *s);
  qnode_common_params(q, n, 4, 8, *s);
  finish_params(wv, *s, true);
  state = s;
  return Status::ok();
}

// A's rows as u8 with kq readable bytes each: A itself when K % 4 == 0 and no flip, else a per-thread copy.
const uint8_t* rows_u8(const Tensor& a, uint8_t flip, int64_t m, int64_t k, int64_t kq, ThreadPool* pool, int64_t& lda) {
  const uint8_t* src = static_cast<const uint8_t*>(a.raw());
  if (kq == k && !flip) {
    lda = k;
    return src;
  }
  thread_local std::vector<uint8_t> a8;
  if (a8.size() < static_cast<size_t>(m * kq)) a8.resize(static_cast<size_t>(m * kq));
  uint8_t* dst = a8.data();
  qnode_parallel(pool, m, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      qcopy_flip_u8__avx2(src + i * k, flip, k, dst + i * kq);
      std::fill(dst + i * kq + k, dst + (i + 1) * kq, uint8_t{0});
    }
  });
  lda = kq;
  return dst;
}

template <int U>
Status qgemm_run(KernelContext& ctx) {
  auto* s = static_cast<const U8State*>(ctx.state);
  const Tensor& a = ctx.in(0);
  if (a.dtype() != (s ? s->x_type : DType::kU8)) return qnode_run_reference(ctx);
  if (!s || s->w_shape != ctx.in(3).shape()) return ctx.fail("weights changed after prepare");
  if (a.rank() < 1 || a.dim(a.rank() - 1) != s->k) return ctx.fail("input's last dimension must be " + std::to_string(s->k));
  const int64_t m = a.numel() / std::max<int64_t>(s->k, 1), n = s->channels;
  int64_t lda;
  const uint8_t* a8 = rows_u8(a, s->flip, m, s->k, s->kq, ctx.pool, lda);
  uint8_t* y = static_cast<uint8_t*>(ctx.out(0).raw());
  rows_x_panels(uk(U), ctx.pool, a8, lda, m, *s, [&](int64_t i, int64_t j0, int64_t nc, const int32_t* t) {
    QRequant rq;
    rq.bias = s->bias_eff.data() + j0;
    rq.bias_step = 1;
    rq.mult = s->mult.data() + j0;
    rq.mult_step = 1;
    rq.zp = s->yz, rq.lo = s->lo, rq.hi = s->hi, rq.out_signed = s->y_signed;
    rq.lut = s->lut.empty() ? nullptr : s->lut.data();
    qrequant_row__avx2(t, nc, rq, y + i * n + j0);
  });
  return Status::ok();
}

struct DynState : U8State {
  std::vector<float> w_scale, fbias;
};

template <int U>
bool dynq_ok(const KernelQuery& q) {
  if (!dynq_node_accepts(q) || !uk(U).runs_here()) return false;
  const Tensor& w = cin(q, 1);
  return weights_ok(uk(U), dynq_weights(q), w.dim(1), w.dim(0), q, SIZE_MAX, SIZE_MAX);
}

Status dynq_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor& w = cin(q, 1);
  auto s = std::make_shared<DynState>();
  s->w_shape = w.shape();
  s->channels = w.dim(1);
  const WeightView wv = dynq_weights(q);
  pack_weight_panels(wv, w.dim(0), w.dim(1), *s);
  finish_params(wv, *s, false);
  for (int64_t j = 0; j < w.dim(1); ++j) s->w_scale.push_back(static_cast<float>(cin(q, 3).value_as_double(cin(q, 3).numel() == 1 ? 0 : j)));
  if (constant(q, 4)) s->fbias.assign(cin(q, 4).data<float>(), cin(q, 4).data<float>() + w.dim(1));
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
  const int64_t m = a.numel() / std::max<int64_t>(s->k, 1), n = s->channels, k = s->k, kq = s->kq;
  float as;
  int32_t az;
  if (!qdynamic_range__avx2(a.data<float>(), a.numel(), as, az)) return ctx.fail("input contains NaN");
  thread_local std::vector<uint8_t> a8;
  thread_local std::vector<float> scale;
  thread_local std::vector<int32_t> corr;
  if (a8.size() < static_cast<size_t>(m * kq)) a8.resize(static_cast<size_t>(m * kq));
  scale.resize(static_cast<size_t>(n));
  corr.resize(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    scale[size_t(j)] = as * s->w_scale[size_t(j)];
    corr[size_t(j)] = static_cast<int32_t>(static_cast<uint32_t>(-az) * static_cast<uint32_t>(s->wsum[size_t(j)]));
  }
  uint8_t* dst = a8.data();
  const float* src = a.data<float>();
  qnode_parallel(ctx.pool, m, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      qdynamic_quantize_u8__avx2(src + i * k, k, as, az, dst + i * kq);
      std::fill(dst + i * kq + k, dst + (i + 1) * kq, uint8_t{0});
    }
  });
  float* y = ctx.out(0).data<float>();
  const float* sc = scale.data();
  const int32_t* co = corr.data();
  rows_x_panels(uk(U), ctx.pool, dst, kq, m, *s, [&](int64_t i, int64_t j0, int64_t nc, const int32_t* t) {
    qscale_row_corr_f32__avx2(t, co + j0, nc, sc + j0, s->fbias.empty() ? nullptr : s->fbias.data() + j0, y + i * n + j0);
  });
  return Status::ok();
}

template <int U>
void add_all(KernelRegistry& r, int priority) {
  const std::string suffix = uk(U).name;
  r.add({"joule", "QConv", "qconv_u8s8_" + suffix, Device::kCpu, uk(U).isa, priority, qconv_ok<U>, qconv_prepare, qconv_run<U>});
  r.add({"joule", "QGemm", "qgemm_u8s8_" + suffix, Device::kCpu, uk(U).isa, priority, qgemm_ok<U>, qgemm_prepare, qgemm_run<U>});
  r.add({"joule", "DynQMatMul", "dynq_matmul_u8s8_" + suffix, Device::kCpu, uk(U).isa, priority, dynq_ok<U>, dynq_prepare,
         dynq_run<U>});
}

}  // namespace

void register_cpu_qgemm_u8s8(KernelRegistry& r) {
  add_all<0>(r, 15);  // avx2: weights within the vpmaddubsw pair bound only
  add_all<1>(r, 16);  // avx-vnni
  add_all<2>(r, 17);  // avx512 vnni
}

}  // namespace joule::kernels::cpu
