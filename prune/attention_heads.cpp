// Attention-head analysis and shrink: see attention_heads.h for the model.
#include "prune/attention_heads.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "prune/prune.h"

namespace joule::prune {

std::string AttentionBlock::label() const {
  return projections.empty() ? std::string("attention block") : "attention at " + projections[0]->label();
}

namespace {

using Users = std::map<const ir::Value*, std::vector<ir::Node*>>;

const Tensor* const_of(const ir::Node& n, size_t i) {
  return n.has_input(i) && n.inputs[i]->is_constant() ? &n.inputs[i]->constant : nullptr;
}

bool known_shape(const ir::Value* v) { return v && v->desc.fully_known(); }

// Integer values of a (shape) tensor: a constant, or computed for the calibration shapes.
bool int_values(const ir::Value* v, const KnownValues& known, std::vector<int64_t>& out) {
  if (!v) return false;
  if (v->is_constant()) {
    if (!dtype_is_integer(v->constant.dtype())) return false;
    out = v->constant.to_int64_vector();
    return true;
  }
  auto it = known.find(v->name);
  if (it == known.end()) return false;
  out = it->second;
  return true;
}

// Head/feature axes of a tensor between splits and merges; fa = -1 once head_dim is contracted.
struct Label {
  int ha = -1, fa = -1;
  int block = -1;
};

// A Shape read of `v` is harmless when every index gathered from it avoids the axes in `axes`.
bool safe_shape_read(const ir::Node& shape_node, int rank, const std::vector<int>& axes, const Users& users) {
  if (shape_node.attrs.count("start") || shape_node.attrs.count("end")) return false;
  auto it = users.find(shape_node.outputs[0]);
  if (it == users.end()) return true;
  for (ir::Node* u : it->second) {
    if (u->op_type != "Gather" || u->inputs[0] != shape_node.outputs[0] || !const_of(*u, 1)) return false;
    for (int64_t idx : u->inputs[1]->constant.to_int64_vector()) {
      if (idx < 0) idx += rank;
      if (std::find(axes.begin(), axes.end(), static_cast<int>(idx)) != axes.end()) return false;
    }
  }
  return true;
}

// Every user of `v` except `except` is a harmless Shape read.
bool only_shape_reads_besides(const ir::Value* v, const ir::Node* except, int rank, const std::vector<int>& axes,
                              const Users& users) {
  auto it = users.find(v);
  if (it == users.end()) return true;
  for (ir::Node* u : it->second) {
    if (u == except) continue;
    if (u->op_type != "Shape" || !safe_shape_read(*u, rank, axes, users)) return false;
  }
  return true;
}

// Finds where entry `pos` of Reshape `r`'s target shape lives: the constant shape itself, or a
// constant operand of the Concat (axis 0) that builds it. `ok` false when it cannot be rewritten;
// `edit.node` null when no rewrite is needed (the entry is -1: inferred).
bool locate_entry(ir::Node& r, int64_t pos, int64_t per_head, const KnownValues& known, ShapeEdit& edit) {
  std::vector<int64_t> vals;
  if (!int_values(r.inputs[1], known, vals) || pos >= static_cast<int64_t>(vals.size())) return false;
  edit = {};
  if (vals[static_cast<size_t>(pos)] == -1) return true;
  if (vals[static_cast<size_t>(pos)] == 0) return false;  // copies the input dim: would not follow
  if (r.inputs[1]->is_constant()) {
    edit = {&r, 1, pos, per_head};
    return true;
  }
  ir::Node* c = r.inputs[1]->producer;
  if (!c || c->op_type != "Concat" || c->attr_int("axis", 0) != 0) return false;
  int64_t off = 0;
  for (size_t i = 0; i < c->inputs.size(); ++i) {
    std::vector<int64_t> part;
    if (!int_values(c->inputs[i], known, part)) return false;
    int64_t len = static_cast<int64_t>(part.size());
    if (pos < off + len) {
      if (!c->inputs[i]->is_constant()) return false;
      edit = {c, static_cast<int>(i), pos - off, per_head};
      return true;
    }
    off += len;
  }
  return false;
}

const std::set<std::string> kUnary = {"Cast", "Identity", "Dropout", "Relu", "Exp", "Sqrt", "Neg", "Erf",
                                      "Tanh", "Sigmoid", "Abs", "Reciprocal"};
const std::set<std::string> kBinary = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Where"};

}  // namespace

Status analyze_heads(const ir::Graph& g, const KnownValues& known, const std::set<std::string>& keep,
                     HeadAnalysis& out) {
  out = {};
  Users users;
  for (auto& n : g.nodes)
    for (auto* v : n->inputs)
      if (v) users[v].push_back(n.get());
  std::set<const ir::Value*> graph_outputs(g.outputs.begin(), g.outputs.end());
  std::map<const ir::Value*, Label> labels;
  std::vector<int> parent;
  std::vector<AttentionBlock> blocks;
  auto find = [&](int b) {
    while (parent[b] != b) b = parent[b] = parent[parent[b]];
    return b;
  };
  auto bad = [&](int b, const std::string& why) {
    AttentionBlock& B = blocks[find(b)];
    if (B.prunable) B.prunable = false, B.reason = why;
  };
  auto unite = [&](int a, int b) {
    a = find(a), b = find(b);
    if (a == b) return a;
    parent[b] = a;
    AttentionBlock &A = blocks[a], &B = blocks[b];
    A.projections.insert(A.projections.end(), B.projections.begin(), B.projections.end());
    A.biases.insert(A.biases.end(), B.biases.begin(), B.biases.end());
    A.splits.insert(A.splits.end(), B.splits.begin(), B.splits.end());
    A.merges.insert(A.merges.end(), B.merges.begin(), B.merges.end());
    A.outputs.insert(A.outputs.end(), B.outputs.begin(), B.outputs.end());
    A.edits.insert(A.edits.end(), B.edits.begin(), B.edits.end());
    if (A.heads != B.heads || A.head_dim != B.head_dim) {
      if (A.prunable) A.prunable = false, A.reason = "its splits disagree on the head count";
    }
    if (!B.prunable && A.prunable) A.prunable = false, A.reason = B.reason;
    return a;
  };
  auto is_kept = [&](const ir::Node& n) {
    if (keep.count(n.name)) return true;
    for (auto* o : n.outputs)
      if (o && keep.count(o->name)) return true;
    return false;
  };

  for (auto& up : g.nodes) {
    ir::Node& n = *up;
    const std::string& op = n.op_type;
    std::vector<int> in_blocks;
    for (auto* v : n.inputs) {
      auto it = v ? labels.find(v) : labels.end();
      if (it != labels.end()) in_blocks.push_back(it->second.block);
    }
    // A split: Reshape [.., H] -> [.., heads, head_dim] of a projection output (no labeled input).
    if (op == "Reshape" && in_blocks.empty() && n.domain.empty()) {
      const ir::Value *x = n.inputs[0], *y = n.outputs[0];
      if (!known_shape(x) || !known_shape(y) || y->desc.rank() != x->desc.rank() + 1 || x->desc.rank() < 2) continue;
      int r = x->desc.rank();
      const Shape &xs = x->desc.shape, &ys = y->desc.shape;
      bool prefix = std::equal(xs.begin(), xs.end() - 1, ys.begin());
      int64_t h = ys[static_cast<size_t>(r - 1)], d = ys[static_cast<size_t>(r)], H = xs.back();
      if (!prefix || h < 2 || h * d != H) continue;
      parent.push_back(static_cast<int>(blocks.size()));
      blocks.emplace_back();
      int bi = static_cast<int>(blocks.size()) - 1;
      AttentionBlock& B = blocks[bi];
      B.heads = h, B.head_dim = d;
      B.splits.push_back(&n);
      labels[y] = {r - 1, r, bi};
      // The projection: [Add(bias)] <- MatMul(x, W [K, H]).
      ir::Node* p = x->producer;
      std::pair<ir::Node*, int> bias{nullptr, 0};
      if (p && p->op_type == "Add" && p->inputs.size() == 2) {
        int ci = const_of(*p, 0) ? 0 : (const_of(*p, 1) ? 1 : -1);
        ir::Value* other = ci >= 0 ? p->inputs[static_cast<size_t>(1 - ci)] : nullptr;
        if (ci >= 0 && p->inputs[static_cast<size_t>(ci)]->constant.numel() == H &&
            p->inputs[static_cast<size_t>(ci)]->constant.shape().back() == H && other && other->producer &&
            other->producer->op_type == "MatMul" && only_shape_reads_besides(other, p, r, {r - 1}, users)) {
          bias = {p, ci};
          p = other->producer;
        }
      }
      const Tensor* W = p && p->op_type == "MatMul" && p->domain.empty() ? const_of(*p, 1) : nullptr;
      if (!W || W->rank() != 2 || W->dim(1) != H || W->dtype() != DType::kF32 ||
          (bias.first && bias.first->inputs[static_cast<size_t>(bias.second)]->constant.dtype() != DType::kF32)) {
        bad(bi, n.label() + " does not reshape a MatMul projection with constant weights");
        continue;
      }
      if (!only_shape_reads_besides(x, &n, r, {r - 1}, users)) bad(bi, x->name + " is read besides the head split");
      if (is_kept(*p) || is_kept(n) || (bias.first && is_kept(*bias.first))) bad(bi, p->label() + " is kept (--keep)");
      B.projections.push_back(p);
      if (bias.first) B.biases.push_back(bias);
      ShapeEdit e;
      if (!locate_entry(n, r - 1, 1, known, e)) bad(bi, n.label() + ": the head count in its shape cannot be rewritten");
      else if (e.node) B.edits.push_back(e);
      continue;
    }
    if (in_blocks.empty()) continue;
    int bi = in_blocks[0];
    for (size_t i = 1; i < in_blocks.size(); ++i) bi = unite(bi, in_blocks[i]);
    auto fail = [&](const std::string& why) { bad(bi, n.label() + " " + why); };
    const ir::Value* y = n.outputs.empty() ? nullptr : n.outputs[0];
    int out_rank = y && y->desc.rank_known ? y->desc.rank() : -1;
    Label l0;
    for (auto* v : n.inputs)
      if (v && labels.count(v)) {
        l0 = labels[v];
        break;
      }
    l0.block = bi;
    if (!n.domain.empty()) {
      fail("is not understood inside attention");
    } else if (op == "Shape") {
      if (!safe_shape_read(n, n.inputs[0]->desc.rank(), {l0.ha}, users)) fail("reads the head count");
    } else if (op == "Transpose") {
      int rank = n.inputs[0]->desc.rank();
      std::vector<int64_t> perm = n.attr_ints("perm", {});
      if (perm.empty())
        for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
      Label l = l0;
      for (int i = 0; i < static_cast<int>(perm.size()); ++i) {
        if (perm[static_cast<size_t>(i)] == l0.ha) l.ha = i;
        if (perm[static_cast<size_t>(i)] == l0.fa) l.fa = i;
      }
      labels[y] = l;
    } else if (kUnary.count(op)) {
      labels[y] = l0;
    } else if (op == "Softmax" || op == "LogSoftmax") {
      int64_t axis = n.attr_int("axis", n.opset >= 13 ? -1 : 1);
      if (axis < 0) axis += out_rank;
      if (axis == l0.ha || (n.opset < 13 && axis != out_rank - 1)) fail("normalizes across heads");
      labels[y] = l0;
    } else if (op == "MatMul") {
      const ir::Value *a = n.inputs[0], *b = n.inputs[1];
      if (!labels.count(a) || !labels.count(b) || a->desc.rank() != b->desc.rank() || out_rank < 3 ||
          a->desc.rank() != out_rank) {
        fail("multiplies per-head values with something else");
        continue;
      }
      Label la = labels[a], lb = labels[b];
      int n2 = out_rank - 2, n1 = out_rank - 1;
      Label l{la.ha, -1, bi};
      bool ok = la.ha == lb.ha && la.ha < n2;
      if ((la.fa == n1) != (lb.fa == n2)) ok = false;  // head_dim contracted with something else
      if (la.fa == n2) l.fa = n2;
      if (lb.fa == n1) ok = ok && l.fa == -1, l.fa = n1;
      if (la.fa >= 0 && la.fa < n2) ok = false;
      if (lb.fa >= 0 && lb.fa < n2) ok = false;
      if (!ok) fail("mixes heads");
      labels[y] = l;
    } else if (kBinary.count(op)) {
      bool ok = out_rank >= 0;
      for (auto* v : n.inputs) {
        if (!v || !ok) continue;
        auto it = labels.find(v);
        if (it != labels.end()) {
          ok = v->desc.rank() == out_rank && it->second.ha == l0.ha && it->second.fa == l0.fa;
        } else {
          if (!v->desc.rank_known) ok = false;
          int axis = l0.ha - (out_rank - v->desc.rank());  // the operand's axis aligned with heads
          if (ok && axis >= 0 && v->desc.shape[static_cast<size_t>(axis)] != 1) ok = false;
        }
      }
      if (!ok) fail("has an operand that varies per head");
      labels[y] = l0;
    } else if (op == "Reshape") {
      // A merge: [.., heads, head_dim] -> [.., H] feeding output projections.
      const ir::Value* x = n.inputs[0];
      int r = x->desc.rank();
      bool ok = known_shape(x) && known_shape(y) && out_rank == r - 1 && l0.ha == r - 2 && l0.fa == r - 1;
      const Shape &xs = x->desc.shape, &ys = y->desc.shape;
      ok = ok && std::equal(xs.begin(), xs.end() - 2, ys.begin()) && ys.back() == xs[xs.size() - 2] * xs.back();
      if (!ok) {
        fail("reshapes per-head values in a way the analysis does not follow");
        continue;
      }
      AttentionBlock& B = blocks[find(bi)];
      B.merges.push_back(&n);
      if (xs[xs.size() - 2] != B.heads || xs.back() != B.head_dim) fail("disagrees with the head count");
      ShapeEdit e;
      if (!locate_entry(n, r - 2, B.head_dim, known, e)) fail(": the hidden size in its shape cannot be rewritten");
      else if (e.node) blocks[find(bi)].edits.push_back(e);
      auto it = users.find(y);
      int projections = 0;
      for (ir::Node* u : it == users.end() ? std::vector<ir::Node*>{} : it->second) {
        const Tensor* W = u->op_type == "MatMul" && u->inputs[0] == y ? const_of(*u, 1) : nullptr;
        if (W && W->rank() == 2 && W->dim(0) == ys.back() && W->dtype() == DType::kF32 && !is_kept(*u)) {
          blocks[find(bi)].outputs.push_back(u);
          ++projections;
        } else if (u->op_type != "Shape" || !safe_shape_read(*u, out_rank, {out_rank - 1}, users)) {
          fail("feeds something other than an output projection");
        }
      }
      if (!projections) fail("feeds no output projection");
      if (graph_outputs.count(y)) fail("is a graph output");
    } else {
      fail("is not understood inside attention");
    }
    for (auto* o : n.outputs)
      if (o && labels.count(o) && graph_outputs.count(o)) bad(bi, o->name + " is a graph output");
  }
  for (int b = 0; b < static_cast<int>(blocks.size()); ++b) {
    if (find(b) != b) continue;
    AttentionBlock& B = blocks[b];
    if (B.prunable && B.merges.empty()) B.prunable = false, B.reason = "no merge of the heads found";
    if (!B.prunable) out.notes.push_back(B.label() + " left alone: " + B.reason);
    out.blocks.push_back(std::move(B));
  }
  return Status::ok();
}

std::vector<int64_t> head_columns(const AttentionBlock& b, const std::vector<bool>& keep) {
  std::vector<int64_t> idx;
  for (int64_t j = 0; j < b.heads; ++j)
    if (keep.empty() || keep[static_cast<size_t>(j)])
      for (int64_t t = 0; t < b.head_dim; ++t) idx.push_back(j * b.head_dim + t);
  return idx;
}

Status head_scores(const ir::Graph& g, const HeadAnalysis& a, Criterion c, const std::vector<Sample>& calib,
                   std::vector<std::vector<double>>& scores) {
  scores.assign(a.blocks.size(), {});
  if (c == Criterion::kActivation) {
    if (calib.empty()) return invalid_argument("the activation criterion needs calibration samples (--calib)");
    std::vector<std::string> names;
    std::vector<size_t> owner;
    for (size_t b = 0; b < a.blocks.size(); ++b)
      if (a.blocks[b].prunable)
        for (ir::Node* m : a.blocks[b].merges) names.push_back(m->outputs[0]->name), owner.push_back(b);
    for (size_t b = 0; b < a.blocks.size(); ++b)
      if (a.blocks[b].prunable) scores[b].assign(static_cast<size_t>(a.blocks[b].heads), 0.0);
    if (names.empty()) return Status::ok();
    std::vector<std::vector<Tensor>> vals;
    JOULE_RETURN_IF_ERROR(collect_values(g, names, calib, vals));
    for (auto& sample : vals)
      for (size_t k = 0; k < names.size(); ++k) {
        const Tensor& t = sample[k];
        const AttentionBlock& B = a.blocks[owner[k]];
        int64_t H = B.heads * B.head_dim;
        if (t.dtype() != DType::kF32 || t.rank() < 1 || t.shape().back() != H) continue;
        for (int64_t i = 0; i < t.numel(); ++i)
          scores[owner[k]][static_cast<size_t>((i % H) / B.head_dim)] += std::abs(t.data<float>()[i]);
      }
    return Status::ok();
  }
  bool l2 = c == Criterion::kL2;
  for (size_t b = 0; b < a.blocks.size(); ++b) {
    const AttentionBlock& B = a.blocks[b];
    if (!B.prunable) continue;
    std::vector<double> acc(static_cast<size_t>(B.heads), 0.0);
    auto add = [&](const Tensor& w, bool by_column) {  // column (Q/K/V) or row (output) j owns head j / head_dim
      for (int64_t r = 0; r < w.dim(0); ++r)
        for (int64_t k = 0; k < w.dim(1); ++k) {
          double x = w.data<float>()[r * w.dim(1) + k];
          acc[static_cast<size_t>((by_column ? k : r) / B.head_dim)] += l2 ? x * x : std::abs(x);
        }
    };
    for (ir::Node* p : B.projections) add(p->inputs[1]->constant, true);
    for (ir::Node* o : B.outputs) add(o->inputs[1]->constant, false);
    if (l2)
      for (auto& x : acc) x = std::sqrt(x);
    scores[b] = acc;
  }
  return Status::ok();
}

std::vector<std::vector<bool>> choose_heads(const HeadAnalysis& a, const std::vector<std::vector<double>>& scores,
                                            double ratio) {
  std::vector<std::vector<bool>> keep(a.blocks.size());
  for (size_t b = 0; b < a.blocks.size(); ++b) {
    if (!a.blocks[b].prunable || scores[b].empty()) continue;
    size_t n = scores[b].size();
    keep[b].assign(n, true);
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return scores[b][x] < scores[b][y]; });
    size_t drop = std::min(n - 1, static_cast<size_t>(std::floor(ratio * static_cast<double>(n) + 1e-9)));
    for (size_t k = 0; k < drop; ++k) keep[b][order[k]] = false;
  }
  return keep;
}

Status shrink_heads(ir::Graph& g, const HeadAnalysis& a, const std::vector<std::vector<bool>>& keep) {
  for (size_t bi = 0; bi < a.blocks.size(); ++bi) {
    const AttentionBlock& B = a.blocks[bi];
    if (!B.prunable || keep[bi].empty()) continue;
    int64_t kept = std::count(keep[bi].begin(), keep[bi].end(), true);
    if (kept == B.heads) continue;
    auto cols = head_columns(B, keep[bi]);
    for (ir::Node* p : B.projections) slice_input(g, *p, 1, 1, cols);
    for (auto& [add, ci] : B.biases) slice_input(g, *add, static_cast<size_t>(ci), -1, cols);
    for (ir::Node* o : B.outputs) slice_input(g, *o, 1, 0, cols);
    for (const ShapeEdit& e : B.edits) {
      ir::Value* v = e.node->inputs[static_cast<size_t>(e.input)];
      const Tensor& t = v->constant;
      std::vector<int64_t> vals = t.to_int64_vector();
      vals[static_cast<size_t>(e.entry)] = kept * e.per_head;
      Tensor nt(t.dtype(), t.shape());
      for (size_t i = 0; i < vals.size(); ++i) {
        if (t.dtype() == DType::kI64) nt.data<int64_t>()[i] = vals[i];
        else if (t.dtype() == DType::kI32) nt.data<int32_t>()[i] = static_cast<int32_t>(vals[i]);
        else return unsupported(e.node->label() + ": shape constant of an unexpected type");
      }
      e.node->inputs[static_cast<size_t>(e.input)] = g.add_constant(v->name, nt);
    }
  }
  for (auto& v : g.values)
    if (v->producer && !v->is_constant()) v->desc = {};
  g.compact();
  return ir::verify_graph(g);
}

}  // namespace joule::prune
