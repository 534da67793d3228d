// Reference kernels for LSTM, GRU and RNN: one batch row and one time step at a time, every gate
// pre-activation an explicit dot product, computed in double. This is the oracle for the
// batched-gate CPU kernel (kernels/cpu/rnn_gates.cpp); see kernels/ref/rnn_common.h for layouts.
//
// Per direction d and batch row b, with len = sequence_lens[b] (seq when absent), the steps run
// t = 0..len-1 (forward) or t = len-1..0 (reverse / second direction of bidirectional). Gate rows
// of W/R/B are stacked in ONNX order (LSTM i,o,f,c; GRU z,r,h); Wb/Rb are B's two halves.
//   LSTM: i = f(Wi x + Ri h + Pi*c + Wbi + Rbi)     f = f(Wf x + Rf h + Pf*c + Wbf + Rbf)  (1 - i if input_forget)
//         c~ = g(Wc x + Rc h + Wbc + Rbc)            c' = f*c + i*c~
//         o = f(Wo x + Ro h + Po*c' + Wbo + Rbo)     h' = o * h(c')
//   GRU:  z = f(Wz x + Rz h + Wbz + Rbz)             r = f(Wr x + Rr h + Wbr + Rbr)
//         h~ = g(Wh x + Rh (r*h) + Rbh + Wbh)        or, linear_before_reset: g(Wh x + r*(Rh h + Rbh) + Wbh)
//         h' = (1 - z)*h~ + z*h
//   RNN:  h' = f(Wi x + Ri h + Wbi + Rbi)
// `clip` clamps every pre-activation (after bias and peephole terms) before its activation.
// Y at steps t >= len is 0; Y_h / Y_c hold the state after the last valid step (initial state if len = 0).
#include "kernels/ref/rnn_common.h"

namespace joule::kernels {

namespace {

using rnn::Config;
using rnn::Inputs;
using rnn::Kind;

double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Runs one direction for one batch row; updates h / c in place and writes Y rows.
void run_row(const Config& cf, const Inputs<double>& in, int64_t d, int64_t b, std::vector<double>& h,
             std::vector<double>& c, std::vector<double>& Y) {
  const int64_t H = cf.H, I = cf.input, G = cf.G, N = cf.batch, D = cf.D;
  const int64_t len = in.lens[static_cast<size_t>(b)];
  const double* W = in.W.data() + d * G * H * I;
  const double* R = in.R.data() + d * G * H * H;
  const double* Wb = in.B.data() + d * 2 * G * H;
  const double* Rb = Wb + G * H;
  // pre[k] = W_k x + Wb_k (+ R_k h + Rb_k except for the GRU h~ gate, handled below).
  std::vector<double> pre(static_cast<size_t>(G * H)), hn(static_cast<size_t>(H)), rh(static_cast<size_t>(H));
  for (int64_t s = 0; s < len; ++s) {
    const int64_t t = cf.dir_reversed(d) ? len - 1 - s : s;
    const double* x = in.X.data() + (t * N + b) * I;
    const bool gru = cf.kind == Kind::kGru;
    for (int64_t k = 0; k < G * H; ++k) {
      pre[k] = dot(W + k * I, x, I) + Wb[k];
      if (!(gru && k >= 2 * H)) pre[k] += dot(R + k * H, h.data(), H) + Rb[k];
    }
    if (cf.kind == Kind::kLstm) {
      const double* P = in.P.data() + d * 3 * H;  // peepholes i, o, f
      const rnn::Activation &fa = cf.act(d, 0), &ga = cf.act(d, 1), &ha = cf.act(d, 2);
      for (int64_t j = 0; j < H; ++j) {
        double i = fa(cf.clipped(pre[j] + P[j] * c[j]));
        double f = cf.input_forget ? 1.0 - i : fa(cf.clipped(pre[2 * H + j] + P[2 * H + j] * c[j]));
        double cand = ga(cf.clipped(pre[3 * H + j]));
        c[j] = f * c[j] + i * cand;
        double o = fa(cf.clipped(pre[H + j] + P[H + j] * c[j]));
        hn[j] = o * ha(c[j]);
      }
    } else if (gru) {
      const rnn::Activation &fa = cf.act(d, 0), &ga = cf.act(d, 1);
      const double* Rh = R + 2 * H * H;
      std::vector<double> z(static_cast<size_t>(H)), r(static_cast<size_t>(H));
      for (int64_t j = 0; j < H; ++j) {
        z[j] = fa(cf.clipped(pre[j]));
        r[j] = fa(cf.clipped(pre[H + j]));
        rh[j] = r[j] * h[j];
      }
      for (int64_t j = 0; j < H; ++j) {
        double rec = cf.linear_before_reset ? r[j] * (dot(Rh + j * H, h.data(), H) + Rb[2 * H + j])
                                            : dot(Rh + j * H, rh.data(), H) + Rb[2 * H + j];
        double cand = ga(cf.clipped(pre[2 * H + j] + rec));
        hn[j] = (1.0 - z[j]) * cand + z[j] * h[j];
      }
    } else {
      for (int64_t j = 0; j < H; ++j) hn[j] = cf.act(d, 0)(cf.clipped(pre[j]));
    }
    h = hn;
    std::copy(h.begin(), h.end(), Y.begin() + ((t * D + d) * N + b) * H);
  }
}

template <Kind K>
Status run_rnn(KernelContext& ctx) {
  Config cf;
  JOULE_RETURN_IF_ERROR(rnn::parse_config(ctx, K, cf));
  Status st = Status::ok();
  bool ok = dispatch_float(ctx.in(0).dtype(), [&]<class T>() {
    Inputs<double> in;
    st = rnn::load_inputs<T, double>(ctx, cf, in);
    if (!st.is_ok()) return;
    const int64_t H = cf.H, N = cf.batch, D = cf.D;
    std::vector<double> Y(static_cast<size_t>(cf.seq * D * N * H), 0.0), Yh = in.h0, Yc = in.c0;
    for (int64_t d = 0; d < D; ++d)
      for (int64_t b = 0; b < N; ++b) {
        const size_t off = static_cast<size_t>((d * N + b) * H);
        std::vector<double> h(Yh.begin() + off, Yh.begin() + off + H), c(static_cast<size_t>(H), 0.0);
        if (K == Kind::kLstm) std::copy(Yc.begin() + off, Yc.begin() + off + H, c.begin());
        run_row(cf, in, d, b, h, c, Y);
        std::copy(h.begin(), h.end(), Yh.begin() + off);
        if (K == Kind::kLstm) std::copy(c.begin(), c.end(), Yc.begin() + off);
      }
    rnn::store_outputs<T, double>(ctx, cf, Y, Yh, Yc);
  });
  if (!ok) return ctx.fail_unsupported("dtype " + std::string(dtype_name(ctx.in(0).dtype())) + " is not supported");
  return st;
}

}  // namespace

void register_rnn_gates_cpu(KernelRegistry& r);  // kernels/cpu/rnn_gates.cpp (SIMD builds only)

void register_ref_rnn(KernelRegistry& r) {
  r.add({"", "LSTM", "lstm__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, run_rnn<Kind::kLstm>});
  r.add({"", "GRU", "gru__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, run_rnn<Kind::kGru>});
  r.add({"", "RNN", "rnn__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, run_rnn<Kind::kRnn>});
#ifdef JOULE_WITH_SIMD
  register_rnn_gates_cpu(r);
#endif
}

}  // namespace joule::kernels
