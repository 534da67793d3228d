// Body of the batched-gate float32 LSTM / GRU / RNN kernels, included by rnn_gates.cpp (baseline ISA)
// and rnn_gates__avx2.cpp (compiled with AVX2 + FMA, so the same loops vectorise 8-wide); each
// includer gets its own internal copy and registers it under its ISA. See rnn_gates.cpp.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>

#include "kernels/ref/rnn_common.h"

namespace joule::kernels {

namespace {

using rnn::Config;
using rnn::Kind;

// C[m][n0..n1) = bias[n] (or 0) + sum_k A[m][k] * Bt[k][n]; rows strided by lda / ldb / ldc.
// Columns go in blocks of kCols whose accumulators stay in registers across the whole k loop
// (rows in pairs, so each Bt load feeds two rows); the compiler vectorises the fixed-size j loops.
constexpr int64_t kCols = 16;

template <int Rows>
void gemm_block(int64_t K, int64_t n, const float* A, int64_t lda, const float* Bt, int64_t ldb, const float* bias,
                float* C, int64_t ldc) {
  float acc[Rows][kCols];
  for (int r = 0; r < Rows; ++r)
    for (int64_t j = 0; j < kCols; ++j) acc[r][j] = bias && j < n ? bias[j] : 0.f;
  if (n == kCols) {
    for (int64_t k = 0; k < K; ++k) {
      const float* b = Bt + k * ldb;
      for (int r = 0; r < Rows; ++r) {
        const float a = A[r * lda + k];
        for (int64_t j = 0; j < kCols; ++j) acc[r][j] += a * b[j];
      }
    }
  } else {  // ragged last block
    for (int64_t k = 0; k < K; ++k) {
      const float* b = Bt + k * ldb;
      for (int r = 0; r < Rows; ++r) {
        const float a = A[r * lda + k];
        for (int64_t j = 0; j < n; ++j) acc[r][j] += a * b[j];
      }
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int64_t j = 0; j < n; ++j) C[r * ldc + j] = acc[r][j];
}

void gemm_rows(int64_t M, int64_t K, int64_t n0, int64_t n1, const float* A, int64_t lda, const float* Bt, int64_t ldb,
               const float* bias, float* C, int64_t ldc) {
  for (int64_t j0 = n0; j0 < n1; j0 += kCols) {
    const int64_t n = std::min(kCols, n1 - j0);
    const float* bj = bias ? bias + j0 : nullptr;
    int64_t m = 0;
    for (; m + 2 <= M; m += 2) gemm_block<2>(K, n, A + m * lda, lda, Bt + j0, ldb, bj, C + m * ldc + j0, ldc);
    if (m < M) gemm_block<1>(K, n, A + m * lda, lda, Bt + j0, ldb, bj, C + m * ldc + j0, ldc);
  }
}

// Transposed weights and folded biases for all directions.
struct Packed {
  std::vector<float> Wt;    // [D][input][G*H]
  std::vector<float> Rt;    // [D][H][G*H]
  std::vector<float> bias;  // [D][G*H]: Wb + Rb, except GRU's h~ gate: Wbh only
  std::vector<float> rbh;   // GRU: [D][H] Rbh (applied inside the reset product)
};

void pack(Kind kind, const Tensor& W, const Tensor& R, const Tensor* B, Packed& p) {
  const int64_t D = W.dim(0), GH = W.dim(1), I = W.dim(2), H = R.dim(2);
  p.Wt.resize(static_cast<size_t>(D * I * GH));
  p.Rt.resize(static_cast<size_t>(D * H * GH));
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t g = 0; g < GH; ++g)
      for (int64_t i = 0; i < I; ++i) p.Wt[(d * I + i) * GH + g] = W.data<float>()[(d * GH + g) * I + i];
    for (int64_t g = 0; g < GH; ++g)
      for (int64_t i = 0; i < H; ++i) p.Rt[(d * H + i) * GH + g] = R.data<float>()[(d * GH + g) * H + i];
  }
  p.bias.assign(static_cast<size_t>(D * GH), 0.f);
  p.rbh.assign(static_cast<size_t>(D * H), 0.f);
  if (!B) return;
  for (int64_t d = 0; d < D; ++d) {
    const float* wb = B->data<float>() + d * 2 * GH;
    const float* rb = wb + GH;
    for (int64_t g = 0; g < GH; ++g) {
      const bool gru_h = kind == Kind::kGru && g >= 2 * H;
      p.bias[d * GH + g] = wb[g] + (gru_h ? 0.f : rb[g]);
      if (gru_h) p.rbh[d * H + g - 2 * H] = rb[g];
    }
  }
}

template <Kind K>
Status prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor* B = q.constant_inputs.size() > 3 ? q.constant_inputs[3] : nullptr;
  const bool has_b = q.node.has_input(3);
  if (!q.constant_inputs[1] || !q.constant_inputs[2] || (has_b && !B)) return Status::ok();  // packed per run
  auto p = std::make_shared<Packed>();
  pack(K, *q.constant_inputs[1], *q.constant_inputs[2], has_b ? B : nullptr, *p);
  state = p;
  return Status::ok();
}

template <Kind K>
Status run(KernelContext& ctx) {
  Config cf;
  JOULE_RETURN_IF_ERROR(rnn::parse_config(ctx, K, cf));
  const int64_t S = cf.seq, N = cf.batch, I = cf.input, H = cf.H, D = cf.D, G = cf.G, GH = G * H;
  Packed local;
  const Packed* pk = static_cast<const Packed*>(ctx.state);
  if (!pk) {
    pack(K, ctx.in(1), ctx.in(2), ctx.has_input(3) ? &ctx.in(3) : nullptr, local);
    pk = &local;
  }
  std::vector<int64_t> lens(static_cast<size_t>(N), S);
  if (ctx.has_input(4))
    for (int64_t b = 0; b < N; ++b) {
      const int32_t l = ctx.in(4).data<int32_t>()[b];
      if (l < 0 || l > S)
        return ctx.fail("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(l) + " is outside [0, " +
                        std::to_string(S) + "]");
      lens[static_cast<size_t>(b)] = l;
    }
  // X in [seq][batch][input]: layout 0 is used in place.
  std::vector<float> xbuf;
  const float* X = ctx.in(0).data<float>();
  if (cf.layout == 1) {
    xbuf.resize(static_cast<size_t>(S * N * I));
    for (int64_t t = 0; t < S; ++t)
      for (int64_t b = 0; b < N; ++b) std::memcpy(&xbuf[(t * N + b) * I], X + (b * S + t) * I, sizeof(float) * I);
    X = xbuf.data();
  }
  // Element offsets of Y[t][d][b][0] and state[d][b][0] in the node's layout.
  auto y_at = [&](int64_t t, int64_t d, int64_t b) { return (cf.layout == 0 ? ((t * D + d) * N + b) : ((b * S + t) * D + d)) * H; };
  auto s_at = [&](int64_t d, int64_t b) { return (cf.layout == 0 ? (d * N + b) : (b * D + d)) * H; };
  float* Y = ctx.has_output(0) ? ctx.out(0).data<float>() : nullptr;
  if (Y) std::memset(Y, 0, sizeof(float) * static_cast<size_t>(S * D * N * H));

  std::vector<float> xg(static_cast<size_t>(S * N * GH)), hg(static_cast<size_t>(N * GH));
  std::vector<float> h(static_cast<size_t>(N * H)), c(static_cast<size_t>(N * H)), rh(static_cast<size_t>(N * H));
  for (int64_t d = 0; d < D; ++d) {
    const float* Wt = pk->Wt.data() + d * I * GH;
    const float* Rt = pk->Rt.data() + d * H * GH;
    const float* rbh = pk->rbh.data() + d * H;
    const float* P = ctx.has_input(7) ? ctx.in(7).data<float>() + d * 3 * H : nullptr;
    const rnn::Activation& fa = cf.act(d, 0);
    const rnn::Activation& ga = cf.act(d, K == Kind::kRnn ? 0 : 1);
    const rnn::Activation& ha = cf.act(d, K == Kind::kLstm ? 2 : 0);
    const bool rev = cf.dir_reversed(d);
    // Input projection for all steps at once.
    gemm_rows(S * N, I, 0, GH, X, I, Wt, GH, pk->bias.data() + d * GH, xg.data(), GH);
    for (int64_t b = 0; b < N; ++b)
      for (int64_t j = 0; j < H; ++j) {
        h[b * H + j] = ctx.has_input(5) ? ctx.in(5).data<float>()[s_at(d, b) + j] : 0.f;
        c[b * H + j] = K == Kind::kLstm && ctx.has_input(6) ? ctx.in(6).data<float>()[s_at(d, b) + j] : 0.f;
      }
    for (int64_t s = 0; s < S; ++s) {
      // Recurrent projection over the whole batch (GRU without linear_before_reset: z and r only).
      const bool split = K == Kind::kGru && !cf.linear_before_reset;
      gemm_rows(N, H, 0, split ? 2 * H : GH, h.data(), H, Rt, GH, nullptr, hg.data(), GH);
      if (split) {
        for (int64_t b = 0; b < N; ++b) {
          const int64_t len = lens[static_cast<size_t>(b)];
          if (s >= len) continue;
          const float* x = xg.data() + ((rev ? len - 1 - s : s) * N + b) * GH;
          for (int64_t j = 0; j < H; ++j) rh[b * H + j] = fa(cf.clipped(x[H + j] + hg[b * GH + H + j])) * h[b * H + j];
        }
        gemm_rows(N, H, 2 * H, GH, rh.data(), H, Rt, GH, nullptr, hg.data(), GH);
      }
      for (int64_t b = 0; b < N; ++b) {
        const int64_t len = lens[static_cast<size_t>(b)];
        if (s >= len) continue;
        const int64_t t = rev ? len - 1 - s : s;
        const float* x = xg.data() + (t * N + b) * GH;
        const float* r = hg.data() + b * GH;
        float* hb = h.data() + b * H;
        float* cb = c.data() + b * H;
        if constexpr (K == Kind::kLstm) {
          for (int64_t j = 0; j < H; ++j) {
            const float pi = P ? P[j] : 0.f, po = P ? P[H + j] : 0.f, pf = P ? P[2 * H + j] : 0.f;
            const float ig = fa(cf.clipped(x[j] + r[j] + pi * cb[j]));
            const float fg = cf.input_forget ? 1.f - ig : fa(cf.clipped(x[2 * H + j] + r[2 * H + j] + pf * cb[j]));
            const float cand = ga(cf.clipped(x[3 * H + j] + r[3 * H + j]));
            cb[j] = fg * cb[j] + ig * cand;
            const float og = fa(cf.clipped(x[H + j] + r[H + j] + po * cb[j]));
            hb[j] = og * ha(cb[j]);
          }
        } else if constexpr (K == Kind::kGru) {
          for (int64_t j = 0; j < H; ++j) {
            const float z = fa(cf.clipped(x[j] + r[j]));
            float rec;
            if (cf.linear_before_reset) rec = fa(cf.clipped(x[H + j] + r[H + j])) * (r[2 * H + j] + rbh[j]);
            else rec = r[2 * H + j] + rbh[j];  // (r*h)·Rh^T, from the second GEMM
            const float cand = ga(cf.clipped(x[2 * H + j] + rec));
            hb[j] = (1.f - z) * cand + z * hb[j];
          }
        } else {
          for (int64_t j = 0; j < H; ++j) hb[j] = fa(cf.clipped(x[j] + r[j]));
        }
        if (Y) std::memcpy(Y + y_at(t, d, b), hb, sizeof(float) * H);
      }
    }
    for (int64_t b = 0; b < N; ++b) {
      if (ctx.has_output(1)) std::memcpy(ctx.out(1).data<float>() + s_at(d, b), &h[b * H], sizeof(float) * H);
      if (K == Kind::kLstm && ctx.has_output(2))
        std::memcpy(ctx.out(2).data<float>() + s_at(d, b), &c[b * H], sizeof(float) * H);
    }
  }
  return Status::ok();
}

// X's dtype may still be unknown at session build (symbolic dims upstream); W (usually a constant)
// has the same dtype by the op's type constraint, which inference re-checks on every run.
bool accepts_f32(const KernelQuery& q) {
  if (q.inputs.size() < 3) return false;
  DType t = q.inputs[0].dtype != DType::kUndefined ? q.inputs[0].dtype : q.inputs[1].dtype;
  return t == DType::kF32;
}

void add_batched_gate_kernels(KernelRegistry& r, Isa isa, int priority, const std::string& suffix) {
  r.add({"", "LSTM", "lstm_f32__batched_gates" + suffix, Device::kCpu, isa, priority, accepts_f32, prepare<Kind::kLstm>,
         run<Kind::kLstm>});
  r.add({"", "GRU", "gru_f32__batched_gates" + suffix, Device::kCpu, isa, priority, accepts_f32, prepare<Kind::kGru>,
         run<Kind::kGru>});
  r.add({"", "RNN", "rnn_f32__batched_gates" + suffix, Device::kCpu, isa, priority, accepts_f32, prepare<Kind::kRnn>,
         run<Kind::kRnn>});
}

}  // namespace

}  // namespace joule::kernels
