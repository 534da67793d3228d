// GELU pattern fusion: the erf and tanh subgraphs PyTorch exports -> one Gelu node (see pattern_fusion.h).
#include <cmath>

#include "runtime/passes/pattern_fusion.h"

namespace joule::passes {
namespace {

bool near(float v, double want) { return std::fabs(v - want) <= 1e-4 * std::fabs(want); }

// `n` is a binary ai.onnx `op` with one scalar constant operand near `c`; `x` receives the other operand
// (when `x` is already set, the other operand must be it).
bool binary_with_scalar(const ir::Node* n, const char* op, double c, ir::Value*& x, bool constant_second_only = false) {
  if (!is_op(n, op) || n->inputs.size() != 2) return false;
  for (int i = 0; i < 2; ++i) {
    if (constant_second_only && i == 0) continue;
    float v;
    if (!scalar_constant(n->inputs[static_cast<size_t>(i)], v) || !near(v, c)) continue;
    ir::Value* other = n->inputs[static_cast<size_t>(1 - i)];
    if (!other || (x && other != x)) continue;
    x = other;
    return true;
  }
  return false;
}

// A matched pattern: `last` becomes the Gelu node, `dead` are removed.
struct GeluMatch {
  ir::Value* x = nullptr;
  ir::Node* last = nullptr;
  std::vector<ir::Node*> dead;
};

// Matches the shared tail from `inner` = (1 + Erf(..)) or (1 + Tanh(..)) produced by `add1`:
// (x * inner) * 0.5  or  (0.5 * x) * inner. Appends to m.dead and sets m.last.
bool match_tail(const ReaderIndex& r, ir::Node* add1, GeluMatch& m) {
  ir::Value* inner = add1->outputs[0];
  ir::Node* r1 = r.only_reader(inner);
  if (!is_op(r1, "Mul")) return false;
  ir::Value* other = other_input(r1, inner);
  if (!other) return false;
  m.dead.push_back(add1);
  if (other == m.x) {  // (x * inner) * 0.5
    ir::Node* r2 = r.only_reader(r1->outputs[0]);
    ir::Value* y = r1->outputs[0];
    if (!binary_with_scalar(r2, "Mul", 0.5, y)) return false;
    m.dead.push_back(r1);
    m.last = r2;
    return true;
  }
  ir::Node* half = other->producer;  // (0.5 * x) * inner
  ir::Value* x = m.x;
  if (!binary_with_scalar(half, "Mul", 0.5, x) || r.only_reader(other) != r1) return false;
  m.dead.push_back(half);
  m.last = r1;
  return true;
}

// 1 + v, with v read only by the Add.
ir::Node* plus_one(const ReaderIndex& r, ir::Value* v) {
  ir::Node* add = r.only_reader(v);
  ir::Value* operand = v;
  return binary_with_scalar(add, "Add", 1.0, operand) ? add : nullptr;
}

bool match_erf(const ReaderIndex& r, ir::Node* erf, GeluMatch& m) {
  ir::Value* d = erf->inputs.empty() ? nullptr : erf->inputs[0];
  ir::Node* scale = d ? d->producer : nullptr;
  if (!scale || r.only_reader(d) != erf) return false;
  if (!binary_with_scalar(scale, "Div", M_SQRT2, m.x, true) && !binary_with_scalar(scale, "Mul", M_SQRT1_2, m.x))
    return false;
  ir::Node* add1 = plus_one(r, erf->outputs[0]);
  if (!add1) return false;
  m.dead = {scale, erf};
  return match_tail(r, add1, m);
}

// x^3 as Pow(x, 3) or x * (x * x) (either order): the nodes go to `dead`.
bool match_cube(const ReaderIndex& r, ir::Value* cube, ir::Value* x, std::vector<ir::Node*>& dead) {
  ir::Node* n = cube->producer;
  ir::Value* base = x;
  if (binary_with_scalar(n, "Pow", 3.0, base, true)) {
    dead.push_back(n);
    return true;
  }
  if (!is_op(n, "Mul")) return false;
  ir::Value* sq = other_input(n, x);
  ir::Node* sqn = sq ? sq->producer : nullptr;
  if (!is_op(sqn, "Mul") || sqn->inputs.size() != 2 || sqn->inputs[0] != x || sqn->inputs[1] != x) return false;
  if (r.only_reader(sq) != n) return false;
  dead.push_back(sqn);
  dead.push_back(n);
  return true;
}

bool match_tanh(const ReaderIndex& r, ir::Node* tanh, GeluMatch& m) {
  ir::Value* arg = tanh->inputs.empty() ? nullptr : tanh->inputs[0];
  ir::Node* scale = arg ? arg->producer : nullptr;
  ir::Value* sum = nullptr;
  if (r.only_reader(arg) != tanh || !binary_with_scalar(scale, "Mul", 0.7978845608028654, sum)) return false;
  ir::Node* add = sum->producer;
  if (!is_op(add, "Add") || add->inputs.size() != 2 || r.only_reader(sum) != scale) return false;
  for (int i = 0; i < 2; ++i) {  // which operand of x + 0.044715 x^3 is x
    ir::Value* x = add->inputs[static_cast<size_t>(i)];
    ir::Value* term = add->inputs[static_cast<size_t>(1 - i)];
    ir::Node* coef = term ? term->producer : nullptr;
    ir::Value* cube = nullptr;
    if (!x || r.only_reader(term) != add || !binary_with_scalar(coef, "Mul", 0.044715, cube)) continue;
    std::vector<ir::Node*> dead;
    if (r.only_reader(cube) != coef || !match_cube(r, cube, x, dead)) continue;
    ir::Node* add1 = plus_one(r, tanh->outputs[0]);
    if (!add1) return false;
    m.x = x;
    m.dead = dead;
    m.dead.insert(m.dead.end(), {coef, add, scale, tanh});
    return match_tail(r, add1, m);
  }
  return false;
}

}  // namespace

Status fuse_gelu_patterns(ir::Graph& g, int& fused) {
  for (bool changed = true; changed;) {
    changed = false;
    ReaderIndex r(g);
    for (auto& np : g.nodes) {
      ir::Node* n = np.get();
      GeluMatch m;
      const bool erf = is_op(n, "Erf");
      if (!(erf ? match_erf(r, n, m) : is_op(n, "Tanh") && match_tanh(r, n, m))) continue;
      ir::Node* last = m.last;
      last->op_type = "Gelu";
      last->domain.clear();
      last->opset = 20;
      last->inputs = {m.x};
      last->attrs.clear();
      last->attrs["approximate"] = ir::Attribute::of_string(erf ? "none" : "tanh");
      for (ir::Node* d : m.dead) g.remove_node(d);
      ++fused;
      changed = true;
      break;  // nodes were removed: rebuild the reader index
    }
  }
  return Status::ok();
}

}  // namespace joule::passes
