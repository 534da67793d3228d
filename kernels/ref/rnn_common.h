// Shared pieces of the LSTM / GRU / RNN kernels (the reference kernel in kernels/ref/rnn.cpp and
// the batched-gate CPU kernel in kernels/cpu/rnn_gates.cpp): attribute parsing, the activation
// functions the spec lists (with their activation_alpha / activation_beta), and moving inputs and
// outputs between the two ONNX layouts and one canonical layout.
//
// Canonical layout (what the kernels compute in, compute type C):
//   X [seq][batch][input], W [D][G*H][input], R [D][G*H][H], B [D][2*G*H], P [D][3*H],
//   h0 / c0 [D][batch][H], lens [batch]; outputs Y [seq][D][batch][H], Y_h / Y_c [D][batch][H].
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"

namespace joule::kernels::rnn {

enum class Kind { kRnn = 1, kGru = 3, kLstm = 4 };  // value = number of gates

enum class Act { kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid, kElu,
                 kSoftsign, kSoftplus };

/// One activation function with its parameters (defaults are those of the ONNX op of that name).
struct Activation {
  Act act = Act::kTanh;
  float alpha = 0, beta = 0;

  template <class C>
  C operator()(C x) const {
    const C a = static_cast<C>(alpha), b = static_cast<C>(beta);
    switch (act) {
      case Act::kRelu: return x > C(0) ? x : C(0);
      case Act::kTanh: return std::tanh(x);
      case Act::kSigmoid: return C(1) / (C(1) + std::exp(-x));
      case Act::kAffine: return a * x + b;
      case Act::kLeakyRelu: return x >= C(0) ? x : a * x;
      case Act::kThresholdedRelu: return x > a ? x : C(0);
      case Act::kScaledTanh: return a * std::tanh(b * x);
      case Act::kHardSigmoid: return std::max(C(0), std::min(C(1), a * x + b));
      case Act::kElu: return x >= C(0) ? x : a * (std::exp(x) - C(1));
      case Act::kSoftsign: return x / (C(1) + std::abs(x));
      case Act::kSoftplus: return x > C(20) ? x : std::log1p(std::exp(x));
    }
    return x;
  }
};

/// Everything a kernel needs besides the data: attributes and the problem sizes.
struct Config {
  Kind kind = Kind::kLstm;
  int64_t G = 4, H = 0, D = 1, seq = 0, batch = 0, input = 0;
  bool reverse = false;        // direction == "reverse" (with D == 1)
  int layout = 0;
  float clip = 0;              // > 0: gate pre-activations are clamped to [-clip, clip]
  bool input_forget = false;   // LSTM: f = 1 - i
  bool linear_before_reset = false;  // GRU
  std::vector<Activation> acts;      // [D][acts per direction]: LSTM f,g,h; GRU f,g; RNN f
  int acts_per_dir = 1;

  const Activation& act(int64_t dir, int k) const { return acts[static_cast<size_t>(dir * acts_per_dir + k)]; }
  bool dir_reversed(int64_t dir) const { return dir == 1 || reverse; }
  template <class C>
  C clipped(C x) const {
    return clip > 0 ? std::max(static_cast<C>(-clip), std::min(static_cast<C>(clip), x)) : x;
  }
};

inline Status parse_activation(const KernelContext& ctx, std::string name, const std::vector<float>& alphas,
                               size_t& ai, const std::vector<float>& betas, size_t& bi, Activation& out) {
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Parameters are consumed in order, only by the functions that take them.
  auto alpha = [&](float def) { return ai < alphas.size() ? alphas[ai++] : def; };
  auto beta = [&](float def) { return bi < betas.size() ? betas[bi++] : def; };
  if (name == "relu") out = {Act::kRelu};
  else if (name == "tanh") out = {Act::kTanh};
  else if (name == "sigmoid") out = {Act::kSigmoid};
  else if (name == "affine") { float a = alpha(1.f); out = {Act::kAffine, a, beta(0.f)}; }
  else if (name == "leakyrelu") out = {Act::kLeakyRelu, alpha(0.01f)};
  else if (name == "thresholdedrelu") out = {Act::kThresholdedRelu, alpha(1.f)};
  else if (name == "scaledtanh") { float a = alpha(1.f); out = {Act::kScaledTanh, a, beta(1.f)}; }
  else if (name == "hardsigmoid") { float a = alpha(0.2f); out = {Act::kHardSigmoid, a, beta(0.5f)}; }
  else if (name == "elu") out = {Act::kElu, alpha(1.f)};
  else if (name == "softsign") out = {Act::kSoftsign};
  else if (name == "softplus") out = {Act::kSoftplus};
  else return ctx.fail_unsupported("activation function '" + name + "' is not supported");
  return Status::ok();
}

/// Reads the node's attributes and the input shapes (already checked by shape inference).
inline Status parse_config(const KernelContext& ctx, Kind kind, Config& cfg) {
  const ir::Node& n = ctx.node;
  cfg.kind = kind;
  cfg.G = static_cast<int64_t>(kind);
  std::string direction = n.attr_string("direction", "forward");
  cfg.D = direction == "bidirectional" ? 2 : 1;
  cfg.reverse = direction == "reverse";
  cfg.layout = n.opset >= 14 ? static_cast<int>(n.attr_int("layout", 0)) : 0;
  const Shape& xs = ctx.in(0).shape();
  cfg.seq = cfg.layout == 0 ? xs[0] : xs[1];
  cfg.batch = cfg.layout == 0 ? xs[1] : xs[0];
  cfg.input = xs[2];
  cfg.H = ctx.in(2).shape()[2];
  cfg.clip = n.has_attr("clip") ? n.attr_float("clip", 0) : 0.f;
  cfg.input_forget = kind == Kind::kLstm && n.attr_int("input_forget", 0) != 0;
  cfg.linear_before_reset = kind == Kind::kGru && n.attr_int("linear_before_reset", 0) != 0;
  cfg.acts_per_dir = kind == Kind::kLstm ? 3 : kind == Kind::kGru ? 2 : 1;

  std::vector<std::string> names;
  if (auto it = n.attrs.find("activations"); it != n.attrs.end()) names = it->second.strings;
  if (names.empty()) {
    if (kind == Kind::kLstm) names = {"Sigmoid", "Tanh", "Tanh"};
    else if (kind == Kind::kGru) names = {"Sigmoid", "Tanh"};
    else names = {"Tanh"};
  }
  if (cfg.D == 2 && names.size() == static_cast<size_t>(cfg.acts_per_dir)) {
    auto copy = names;
    names.insert(names.end(), copy.begin(), copy.end());
  }
  if (names.size() != static_cast<size_t>(cfg.acts_per_dir * cfg.D))
    return ctx.fail("attribute activations has " + std::to_string(names.size()) + " entries, expected " +
                    std::to_string(cfg.acts_per_dir * cfg.D));
  std::vector<float> alphas = n.attr_floats("activation_alpha"), betas = n.attr_floats("activation_beta");
  size_t ai = 0, bi = 0;
  cfg.acts.resize(names.size());
  for (size_t i = 0; i < names.size(); ++i)
    JOULE_RETURN_IF_ERROR(parse_activation(ctx, names[i], alphas, ai, betas, bi, cfg.acts[i]));
  return Status::ok();
}

/// The inputs in canonical layout and compute type C (absent optional inputs become zeros).
template <class C>
struct Inputs {
  std::vector<C> X, W, R, B, P, h0, c0;
  std::vector<int64_t> lens;  // [batch], each in [0, seq]
};

/// Converts inputs of storage type T to the canonical layout in C; checks sequence_lens values.
template <class T, class C>
Status load_inputs(const KernelContext& ctx, const Config& c, Inputs<C>& in) {
  auto convert = [](const Tensor& t, std::vector<C>& out) {
    const T* p = t.data<T>();
    out.resize(static_cast<size_t>(t.numel()));
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<C>(to_compute(p[i]));
  };
  const int64_t S = c.seq, N = c.batch, I = c.input, H = c.H, D = c.D;
  // X: layout 1 is [batch][seq][input]; canonical is [seq][batch][input].
  in.X.resize(static_cast<size_t>(S * N * I));
  const T* xp = ctx.in(0).data<T>();
  for (int64_t t = 0; t < S; ++t)
    for (int64_t b = 0; b < N; ++b) {
      const T* src = xp + (c.layout == 0 ? (t * N + b) : (b * S + t)) * I;
      C* dst = in.X.data() + (t * N + b) * I;
      for (int64_t i = 0; i < I; ++i) dst[i] = static_cast<C>(to_compute(src[i]));
    }
  convert(ctx.in(1), in.W);
  convert(ctx.in(2), in.R);
  if (ctx.has_input(3)) convert(ctx.in(3), in.B);
  else in.B.assign(static_cast<size_t>(D * 2 * c.G * H), C(0));
  in.lens.assign(static_cast<size_t>(N), S);
  if (ctx.has_input(4)) {
    const int32_t* lp = ctx.in(4).data<int32_t>();
    for (int64_t b = 0; b < N; ++b) {
      if (lp[b] < 0 || lp[b] > S)
        return ctx.fail("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(lp[b]) + " is outside [0, " +
                        std::to_string(S) + "]");
      in.lens[static_cast<size_t>(b)] = lp[b];
    }
  }
  // Initial states: layout 1 is [batch][D][H]; canonical is [D][batch][H].
  auto load_state = [&](size_t idx, std::vector<C>& out) {
    out.assign(static_cast<size_t>(D * N * H), C(0));
    if (!ctx.has_input(idx)) return;
    const T* p = ctx.in(idx).data<T>();
    for (int64_t d = 0; d < D; ++d)
      for (int64_t b = 0; b < N; ++b)
        for (int64_t h = 0; h < H; ++h)
          out[static_cast<size_t>((d * N + b) * H + h)] =
              static_cast<C>(to_compute(p[(c.layout == 0 ? (d * N + b) : (b * D + d)) * H + h]));
  };
  load_state(5, in.h0);
  if (c.kind == Kind::kLstm) {
    load_state(6, in.c0);
    if (ctx.has_input(7)) convert(ctx.in(7), in.P);
    else in.P.assign(static_cast<size_t>(D * 3 * H), C(0));
  }
  return Status::ok();
}

/// Writes canonical Y [seq][D][batch][H] and Y_h / Y_c [D][batch][H] to whichever outputs exist.
template <class T, class C>
void store_outputs(KernelContext& ctx, const Config& c, const std::vector<C>& Y, const std::vector<C>& Yh,
                   const std::vector<C>& Yc) {
  const int64_t S = c.seq, N = c.batch, H = c.H, D = c.D;
  if (ctx.has_output(0)) {
    T* yp = ctx.out(0).data<T>();
    for (int64_t t = 0; t < S; ++t)
      for (int64_t d = 0; d < D; ++d)
        for (int64_t b = 0; b < N; ++b) {
          const C* src = Y.data() + ((t * D + d) * N + b) * H;
          T* dst = yp + (c.layout == 0 ? ((t * D + d) * N + b) : ((b * S + t) * D + d)) * H;
          for (int64_t h = 0; h < H; ++h) dst[h] = from_compute<T>(src[h]);
        }
  }
  auto store_state = [&](size_t idx, const std::vector<C>& s) {
    if (!ctx.has_output(idx)) return;
    T* p = ctx.out(idx).data<T>();
    for (int64_t d = 0; d < D; ++d)
      for (int64_t b = 0; b < N; ++b)
        for (int64_t h = 0; h < H; ++h)
          p[(c.layout == 0 ? (d * N + b) : (b * D + d)) * H + h] = from_compute<T>(s[static_cast<size_t>((d * N + b) * H + h)]);
  };
  store_state(1, Yh);
  if (c.kind == Kind::kLstm) store_state(2, Yc);
}

}  // namespace joule::kernels::rnn
