// Body of the batched-gate float32 LSTM / GRU / RNN kernels, included by rnn_gates.cpp (baseline ISA)
// and rnn_gates__avx2.cpp (compiled with AVX2 + FMA); each includer gets its own internal copy, passes
// its ISA's primitives (rnn_gates.h) as `Prims` and registers the kernels under its ISA.
//
// Layout: every gate's H columns are padded to Hp = round_up(H, 16), so gate g of a projected row
// lies at [g*Hp, g*Hp + H) and each gate starts on a weight panel. W and R are packed once (at session
// build when they are constants) into panels [G*Hp/16][K][16]: the GEMMs stream each panel
// contiguously. The input projection X·W^T (+ biases) does not depend on the recurrence, so it runs
// for all time steps and batch rows of a direction as one GEMM; each step then needs only the
// recurrent GEMM h·R^T over the batch (M = batch: 1 for streaming, a GEMV) and the cell math, done
// one gate vector at a time so sigmoid / tanh run vectorised. The cell is that of the reference
// kernel (kernels/ref/rnn.cpp), the oracle for this one.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>

#include "kernels/cpu/rnn_gates.h"
#include "kernels/ref/rnn_common.h"

namespace joule::kernels {

namespace {

using rnn::Config;
using rnn::Kind;
using cpu::kRnnPanel;

int64_t padded(int64_t h) { return (h + kRnnPanel - 1) / kRnnPanel * kRnnPanel; }

// Packed weights and folded biases for all directions (Hp = padded(H), GHp = G * Hp).
struct Packed {
  int64_t I = 0, H = 0, Hp = 0, GHp = 0;
  std::vector<float> Wp;    // [D][GHp/16][I][16]
  std::vector<float> Rp;    // [D][GHp/16][H][16]
  std::vector<float> bias;  // [D][GHp]: Wb + Rb, except GRU's h~ gate: Wbh only
  std::vector<float> rbh;   // GRU: [D][Hp] Rbh (applied inside the reset product)
};

// Panels of the [D][G*H][K] weight `w` (row g*H + j is output column g*Hp + j).
void pack_panels(const float* w, int64_t D, int64_t G, int64_t H, int64_t Hp, int64_t K, std::vector<float>& out) {
  const int64_t GHp = G * Hp, P = GHp / kRnnPanel;
  out.assign(static_cast<size_t>(D * GHp * K), 0.f);
  for (int64_t d = 0; d < D; ++d)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t j = 0; j < H; ++j) {
        const int64_t col = g * Hp + j, p = col / kRnnPanel, lane = col % kRnnPanel;
        const float* src = w + (d * G * H + g * H + j) * K;
        float* dst = out.data() + ((d * P + p) * K) * kRnnPanel + lane;
        for (int64_t k = 0; k < K; ++k) dst[k * kRnnPanel] = src[k];
      }
}

void pack(Kind kind, const Tensor& W, const Tensor& R, const Tensor* B, Packed& p) {
  const int64_t D = W.dim(0), I = W.dim(2), H = R.dim(2), G = static_cast<int64_t>(kind);
  p.I = I, p.H = H, p.Hp = padded(H), p.GHp = G * p.Hp;
  pack_panels(W.data<float>(), D, G, H, p.Hp, I, p.Wp);
  pack_panels(R.data<float>(), D, G, H, p.Hp, H, p.Rp);
  p.bias.assign(static_cast<size_t>(D * p.GHp), 0.f);
  p.rbh.assign(static_cast<size_t>(D * p.Hp), 0.f);
  if (!B) return;
  for (int64_t d = 0; d < D; ++d) {
    const float* wb = B->data<float>() + d * 2 * G * H;
    const float* rb = wb + G * H;
    for (int64_t g = 0; g < G; ++g)
      for (int64_t j = 0; j < H; ++j) {
        const bool gru_h = kind == Kind::kGru && g == 2;
        p.bias[d * p.GHp + g * p.Hp + j] = wb[g * H + j] + (gru_h ? 0.f : rb[g * H + j]);
        if (gru_h) p.rbh[d * p.Hp + j] = rb[g * H + j];
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

// Per-thread scratch reused across runs (a run allocates only when a model needs more than before).
struct Scratch {
  std::vector<float> xbuf, xg, hg, h, c, rh, gates;
  std::vector<int64_t> lens;
};

template <class V>
void grow(V& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
}

// Applies `a` to v[0..n): sigmoid and tanh through the ISA's vector primitives.
template <class Prims>
void apply(const rnn::Activation& a, float* v, int64_t n) {
  if (a.act == rnn::Act::kSigmoid) Prims::sigmoid(v, n);
  else if (a.act == rnn::Act::kTanh) Prims::tanh(v, n);
  else
    for (int64_t j = 0; j < n; ++j) v[j] = a(v[j]);
}

void clip_all(const Config& cf, float* v, int64_t n) {
  if (cf.clip <= 0) return;
  const float lo = -cf.clip, hi = cf.clip;
  for (int64_t j = 0; j < n; ++j) v[j] = std::max(lo, std::min(hi, v[j]));
}

template <Kind K, class Prims>
Status run(KernelContext& ctx) {
  Config cf;
  JOULE_RETURN_IF_ERROR(rnn::parse_config(ctx, K, cf));
  const int64_t S = cf.seq, N = cf.batch, I = cf.input, H = cf.H, D = cf.D;
  Packed local;
  const Packed* pk = static_cast<const Packed*>(ctx.state);
  if (!pk) {
    pack(K, ctx.in(1), ctx.in(2), ctx.has_input(3) ? &ctx.in(3) : nullptr, local);
    pk = &local;
  }
  const int64_t Hp = pk->Hp, GHp = pk->GHp, P = GHp / kRnnPanel;
  thread_local Scratch sc;
  grow(sc.lens, N);
  int64_t* lens = sc.lens.data();
  for (int64_t b = 0; b < N; ++b) lens[b] = S;
  if (ctx.has_input(4))
    for (int64_t b = 0; b < N; ++b) {
      const int32_t l = ctx.in(4).data<int32_t>()[b];
      if (l < 0 || l > S)
        return ctx.fail("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(l) + " is outside [0, " +
                        std::to_string(S) + "]");
      lens[b] = l;
    }
  // X in [seq][batch][input]: layout 0 is used in place.
  const float* X = ctx.in(0).data<float>();
  if (cf.layout == 1) {
    grow(sc.xbuf, S * N * I);
    for (int64_t t = 0; t < S; ++t)
      for (int64_t b = 0; b < N; ++b) std::memcpy(&sc.xbuf[(t * N + b) * I], X + (b * S + t) * I, sizeof(float) * I);
    X = sc.xbuf.data();
  }
  // Element offsets of Y[t][d][b][0] and state[d][b][0] in the node's layout.
  auto y_at = [&](int64_t t, int64_t d, int64_t b) { return (cf.layout == 0 ? ((t * D + d) * N + b) : ((b * S + t) * D + d)) * H; };
  auto s_at = [&](int64_t d, int64_t b) { return (cf.layout == 0 ? (d * N + b) : (b * D + d)) * H; };
  float* Y = ctx.has_output(0) ? ctx.out(0).data<float>() : nullptr;
  if (Y && std::any_of(lens, lens + N, [&](int64_t l) { return l < S; }))
    std::memset(Y, 0, sizeof(float) * static_cast<size_t>(S * D * N * H));

  grow(sc.xg, S * N * GHp);
  grow(sc.hg, N * GHp);
  grow(sc.h, N * Hp);
  grow(sc.c, N * Hp);
  grow(sc.rh, N * Hp);
  grow(sc.gates, 5 * Hp);
  float *xg = sc.xg.data(), *hg = sc.hg.data(), *h = sc.h.data(), *c = sc.c.data(), *rh = sc.rh.data();
  float* gt = sc.gates.data();  // gate vectors, Hp apart
  const bool split = K == Kind::kGru && !cf.linear_before_reset;
  for (int64_t d = 0; d < D; ++d) {
    const float* Wp = pk->Wp.data() + d * GHp * I;
    const float* Rp = pk->Rp.data() + d * GHp * H;
    const float* rbh = pk->rbh.data() + d * Hp;
    const float* Pp = ctx.has_input(7) ? ctx.in(7).data<float>() + d * 3 * H : nullptr;
    const rnn::Activation& fa = cf.act(d, 0);
    const rnn::Activation& ga = cf.act(d, K == Kind::kRnn ? 0 : 1);
    const rnn::Activation& ha = cf.act(d, K == Kind::kLstm ? 2 : 0);
    const bool rev = cf.dir_reversed(d);
    // Input projection for all steps at once.
    Prims::gemm(S * N, I, X, I, Wp, 0, P, pk->bias.data() + d * GHp, xg, GHp);
    for (int64_t b = 0; b < N; ++b) {
      if (ctx.has_input(5)) std::memcpy(h + b * Hp, ctx.in(5).data<float>() + s_at(d, b), sizeof(float) * H);
      else std::memset(h + b * Hp, 0, sizeof(float) * H);
      if (K == Kind::kLstm && ctx.has_input(6)) std::memcpy(c + b * Hp, ctx.in(6).data<float>() + s_at(d, b), sizeof(float) * H);
      else std::memset(c + b * Hp, 0, sizeof(float) * H);
    }
    for (int64_t s = 0; s < S; ++s) {
      // Recurrent projection over the whole batch (GRU without linear_before_reset: z and r only).
      Prims::gemm(N, H, h, Hp, Rp, 0, split ? 2 * Hp / kRnnPanel : P, nullptr, hg, GHp);
      if (split) {
        for (int64_t b = 0; b < N; ++b) {
          const int64_t len = lens[b];
          if (s >= len) continue;
          const float* x = xg + ((rev ? len - 1 - s : s) * N + b) * GHp;
          float* r = gt;
          for (int64_t j = 0; j < H; ++j) r[j] = x[Hp + j] + hg[b * GHp + Hp + j];
          clip_all(cf, r, H);
          apply<Prims>(fa, r, H);
          for (int64_t j = 0; j < H; ++j) rh[b * Hp + j] = r[j] * h[b * Hp + j];
        }
        Prims::gemm(N, H, rh, Hp, Rp, 2 * Hp / kRnnPanel, P, nullptr, hg, GHp);
      }
      for (int64_t b = 0; b < N; ++b) {
        const int64_t len = lens[b];
        if (s >= len) continue;
        const int64_t t = rev ? len - 1 - s : s;
        const float* x = xg + (t * N + b) * GHp;
        const float* r = hg + b * GHp;
        float* hb = h + b * Hp;
        float* cb = c + b * Hp;
        if constexpr (K == Kind::kLstm) {
          float *gi = gt, *go = gt + Hp, *gf = gt + 2 * Hp, *gc = gt + 3 * Hp, *tc = gt + 4 * Hp;
          for (int64_t j = 0; j < H; ++j) {
            gi[j] = x[j] + r[j];
            gf[j] = x[2 * Hp + j] + r[2 * Hp + j];
            gc[j] = x[3 * Hp + j] + r[3 * Hp + j];
          }
          if (Pp)
            for (int64_t j = 0; j < H; ++j) gi[j] += Pp[j] * cb[j], gf[j] += Pp[2 * H + j] * cb[j];
          clip_all(cf, gi, H);
          clip_all(cf, gf, H);
          clip_all(cf, gc, H);
          apply<Prims>(fa, gi, H);
          if (cf.input_forget)
            for (int64_t j = 0; j < H; ++j) gf[j] = 1.f - gi[j];
          else apply<Prims>(fa, gf, H);
          apply<Prims>(ga, gc, H);
          for (int64_t j = 0; j < H; ++j) {
            cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
            go[j] = x[Hp + j] + r[Hp + j];
          }
          if (Pp)
            for (int64_t j = 0; j < H; ++j) go[j] += Pp[H + j] * cb[j];
          clip_all(cf, go, H);
          apply<Prims>(fa, go, H);
          std::memcpy(tc, cb, sizeof(float) * H);
          apply<Prims>(ha, tc, H);
          for (int64_t j = 0; j < H; ++j) hb[j] = go[j] * tc[j];
        } else if constexpr (K == Kind::kGru) {
          float *gz = gt, *gr = gt + Hp, *gh = gt + 2 * Hp;
          for (int64_t j = 0; j < H; ++j) gz[j] = x[j] + r[j];
          clip_all(cf, gz, H);
          apply<Prims>(fa, gz, H);
          if (cf.linear_before_reset) {
            for (int64_t j = 0; j < H; ++j) gr[j] = x[Hp + j] + r[Hp + j];
            clip_all(cf, gr, H);
            apply<Prims>(fa, gr, H);
            for (int64_t j = 0; j < H; ++j) gh[j] = x[2 * Hp + j] + gr[j] * (r[2 * Hp + j] + rbh[j]);
          } else {
            for (int64_t j = 0; j < H; ++j) gh[j] = x[2 * Hp + j] + r[2 * Hp + j] + rbh[j];  // (r*h)·Rh^T
          }
          clip_all(cf, gh, H);
          apply<Prims>(ga, gh, H);
          for (int64_t j = 0; j < H; ++j) hb[j] = (1.f - gz[j]) * gh[j] + gz[j] * hb[j];
        } else {
          for (int64_t j = 0; j < H; ++j) hb[j] = x[j] + r[j];
          clip_all(cf, hb, H);
          apply<Prims>(fa, hb, H);
        }
        if (Y) std::memcpy(Y + y_at(t, d, b), hb, sizeof(float) * H);
      }
    }
    for (int64_t b = 0; b < N; ++b) {
      if (ctx.has_output(1)) std::memcpy(ctx.out(1).data<float>() + s_at(d, b), h + b * Hp, sizeof(float) * H);
      if (K == Kind::kLstm && ctx.has_output(2))
        std::memcpy(ctx.out(2).data<float>() + s_at(d, b), c + b * Hp, sizeof(float) * H);
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

template <class Prims>
void add_batched_gate_kernels(KernelRegistry& r, Isa isa, int priority, const std::string& suffix) {
  r.add({"", "LSTM", "lstm_f32__batched_gates" + suffix, Device::kCpu, isa, priority, accepts_f32, prepare<Kind::kLstm>,
         run<Kind::kLstm, Prims>});
  r.add({"", "GRU", "gru_f32__batched_gates" + suffix, Device::kCpu, isa, priority, accepts_f32, prepare<Kind::kGru>,
         run<Kind::kGru, Prims>});
  r.add({"", "RNN", "rnn_f32__batched_gates" + suffix, Device::kCpu, isa, priority, accepts_f32, prepare<Kind::kRnn>,
         run<Kind::kRnn, Prims>});
}

}  // namespace

}  // namespace joule::kernels
