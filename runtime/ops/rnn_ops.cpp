// Op definitions (arity, attribute checks, shape and type inference) for the recurrent ops
// LSTM, GRU and RNN (ai.onnx opsets 7..22; `layout` from opset 14).
//
// Shapes (G = gates: LSTM 4 [i,o,f,c], GRU 3 [z,r,h], RNN 1; D = directions, 2 if bidirectional):
//   X            layout 0: [seq, batch, input]        layout 1: [batch, seq, input]
//   W            [D, G*hidden, input]
//   R            [D, G*hidden, hidden]
//   B            [D, 2*G*hidden]   (W biases then R biases)
//   sequence_lens [batch] int32
//   initial_h/c  layout 0: [D, batch, hidden]         layout 1: [batch, D, hidden]
//   P (LSTM)     [D, 3*hidden]     (peepholes i, o, f)
// Outputs:
//   Y            layout 0: [seq, D, batch, hidden]    layout 1: [batch, seq, D, hidden]
//   Y_h, Y_c     layout 0: [D, batch, hidden]         layout 1: [batch, D, hidden]
#include <algorithm>
#include <cctype>

#include "runtime/ops/op_registry.h"

namespace joule::ops {

namespace {

bool is_float(DType t) { return t == DType::kF32 || t == DType::kF64 || t == DType::kF16 || t == DType::kBF16; }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool known_activation(const std::string& name) {
  static const char* kNames[] = {"relu",       "tanh",        "sigmoid", "affine",   "leakyrelu", "thresholdedrelu",
                                 "scaledtanh", "hardsigmoid", "elu",     "softsign", "softplus"};
  std::string l = lower(name);
  return std::any_of(std::begin(kNames), std::end(kNames), [&](const char* n) { return l == n; });
}

std::string dims(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

// Common inference; `gates` = gate count, `acts_per_dir` = activation functions per direction.
template <int Gates, int ActsPerDir, bool IsLstm>
Status infer_rnn(InferContext& ctx) {
  const ir::Node& n = ctx.node();
  const TensorDesc& x = ctx.input(0);
  const TensorDesc& w = ctx.input(1);
  const TensorDesc& r = ctx.input(2);
  if (!is_float(x.dtype)) return ctx.fail("input X has dtype " + std::string(dtype_name(x.dtype)) + ", expected a float type");
  for (size_t i : {size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{6}, size_t{7}})
    if (ctx.has_input(i) && ctx.input(i).dtype != x.dtype)
      return ctx.fail("input " + std::to_string(i) + " has dtype " + std::string(dtype_name(ctx.input(i).dtype)) +
                      ", expected X's dtype " + std::string(dtype_name(x.dtype)));
  if (x.rank() != 3 || w.rank() != 3 || r.rank() != 3)
    return ctx.fail("X, W and R must be 3-D, got X " + dims(x.shape) + ", W " + dims(w.shape) + ", R " + dims(r.shape));

  std::string direction = n.attr_string("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    return ctx.fail("attribute direction must be forward, reverse or bidirectional, got '" + direction + "'");
  const int64_t D = direction == "bidirectional" ? 2 : 1;
  const int64_t layout = n.opset >= 14 ? n.attr_int("layout", 0) : 0;
  if (layout != 0 && layout != 1) return ctx.fail("attribute layout must be 0 or 1, got " + std::to_string(layout));
  int64_t H = n.attr_int("hidden_size", r.shape[2]);
  if (H <= 0) return ctx.fail("attribute hidden_size must be positive, got " + std::to_string(H));
  const int64_t seq = layout == 0 ? x.shape[0] : x.shape[1];
  const int64_t batch = layout == 0 ? x.shape[1] : x.shape[0];
  const int64_t input = x.shape[2];

  if (w.shape != Shape{D, Gates * H, input})
    return ctx.fail("W has shape " + dims(w.shape) + ", expected " + dims({D, Gates * H, input}));
  if (r.shape != Shape{D, Gates * H, H})
    return ctx.fail("R has shape " + dims(r.shape) + ", expected " + dims({D, Gates * H, H}));
  if (ctx.has_input(3) && ctx.input(3).shape != Shape{D, 2 * Gates * H})
    return ctx.fail("B has shape " + dims(ctx.input(3).shape) + ", expected " + dims({D, 2 * Gates * H}));
  if (ctx.has_input(4)) {
    if (ctx.input(4).dtype != DType::kI32)
      return ctx.fail("sequence_lens has dtype " + std::string(dtype_name(ctx.input(4).dtype)) + ", expected int32");
    if (ctx.input(4).shape != Shape{batch})
      return ctx.fail("sequence_lens has shape " + dims(ctx.input(4).shape) + ", expected " + dims({batch}));
  }
  const Shape state = layout == 0 ? Shape{D, batch, H} : Shape{batch, D, H};
  for (size_t i : {size_t{5}, size_t{6}}) {
    if (i == 6 && !IsLstm) break;
    if (ctx.has_input(i) && ctx.input(i).shape != state)
      return ctx.fail(std::string(i == 5 ? "initial_h" : "initial_c") + " has shape " + dims(ctx.input(i).shape) +
                      ", expected " + dims(state));
  }
  if (IsLstm && ctx.has_input(7) && ctx.input(7).shape != Shape{D, 3 * H})
    return ctx.fail("P has shape " + dims(ctx.input(7).shape) + ", expected " + dims({D, 3 * H}));

  std::vector<std::string> acts;
  if (auto it = n.attrs.find("activations"); it != n.attrs.end()) acts = it->second.strings;
  if (!acts.empty() && acts.size() != static_cast<size_t>(ActsPerDir * D) &&
      !(D == 2 && acts.size() == static_cast<size_t>(ActsPerDir)))
    return ctx.fail("attribute activations has " + std::to_string(acts.size()) + " entries, expected " +
                    std::to_string(ActsPerDir * D));
  for (const std::string& a : acts)
    if (!known_activation(a)) return ctx.fail_unsupported("activation function '" + a + "' is not supported");
  if (n.has_attr("clip") && !(n.attr_float("clip", 0) > 0))
    return ctx.fail("attribute clip must be positive, got " + std::to_string(n.attr_float("clip", 0)));

  ctx.output(0) = TensorDesc::known(x.dtype, layout == 0 ? Shape{seq, D, batch, H} : Shape{batch, seq, D, H});
  ctx.output(1) = TensorDesc::known(x.dtype, state);
  if (IsLstm) ctx.output(2) = TensorDesc::known(x.dtype, state);
  return Status::ok();
}

}  // namespace

void register_rnn_ops(OpRegistry& r) {
  // {domain, op, min_in, max_in, min_out, max_out, infer}: every output is optional.
  r.add({"", "LSTM", 3, 8, 0, 3, infer_rnn<4, 3, true>});
  r.add({"", "GRU", 3, 6, 0, 2, infer_rnn<3, 2, false>});
  r.add({"", "RNN", 3, 6, 0, 2, infer_rnn<1, 1, false>});
}

}  // namespace joule::ops
