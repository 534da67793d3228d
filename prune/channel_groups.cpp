// Channel dependency analysis: see channel_groups.h for the model.
#include "prune/channel_groups.h"
#include "quant/recurrent_subgraph_notes.h"

#include <algorithm>
#include <numeric>

namespace joule::prune {

int64_t ChannelMap::channels() const {
  int64_t c = 0;
  for (auto& s : segs) c += s.len;
  return c;
}

namespace {

// Ops whose output channel i depends only on input channel i (activations, pooling, Resize...).
const std::set<std::string> kPassThrough = {
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus",
    "Softsign", "Gelu", "Identity", "Dropout", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "LpPool", "Resize", "Upsample", "Erf", "Abs", "Neg", "Sqrt", "Exp", "Cast", "Pad", "Mish", "ThresholdedRelu",
    "Celu", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Relu6"};
const std::set<std::string> kElementwise = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "PRelu"};

// Union-find over groups plus their bookkeeping while the walk runs.
struct Builder {
  std::vector<int> parent;
  std::vector<ChannelGroup> groups;
  ChannelAnalysis* out;

  int find(int g) { return parent[g] == g ? g : parent[g] = find(parent[g]); }
  int fresh(int64_t size, ir::Node* source) {
    parent.push_back(static_cast<int>(groups.size()));
    groups.push_back({size, true, "", {}});
    if (source) groups.back().sources.push_back(source);
    return static_cast<int>(groups.size()) - 1;
  }
  void block(int g, const std::string& why) {
    auto& G = groups[find(g)];
    if (G.prunable) G.prunable = false, G.reason = why;
  }
  void block(const ChannelMap& m, const std::string& why) {
    for (auto& s : m.segs) block(s.group, why);
  }
  bool full(const Segment& s) { return s.goff == 0 && s.len == groups[find(s.group)].size; }
  // Unifies two maps channel for channel; false when their structures differ.
  bool unify(const ChannelMap& a, const ChannelMap& b) {
    if (a.segs.size() != b.segs.size() || a.spatial != b.spatial || a.last != b.last) return false;
    for (size_t i = 0; i < a.segs.size(); ++i) {
      const Segment &x = a.segs[i], &y = b.segs[i];
      if (find(x.group) == find(y.group) && x.goff == y.goff && x.len == y.len) continue;
      if (!full(x) || !full(y) || x.len != y.len) return false;
    }
    for (size_t i = 0; i < a.segs.size(); ++i) {
      int ra = find(a.segs[i].group), rb = find(b.segs[i].group);
      if (ra == rb) continue;
      parent[rb] = ra;
      auto& A = groups[ra];
      auto& B = groups[rb];
      A.sources.insert(A.sources.end(), B.sources.begin(), B.sources.end());
      if (!B.prunable && A.prunable) A.prunable = false, A.reason = B.reason;
    }
    return true;
  }
};

ChannelMap slice_map(const ChannelMap& m, int64_t start, int64_t len) {
  ChannelMap r;
  r.spatial = m.spatial;
  r.last = m.last;
  int64_t pos = 0;
  for (auto& s : m.segs) {
    int64_t a = std::max(start, pos), b = std::min(start + len, pos + s.len);
    if (a < b) r.segs.push_back({s.group, s.goff + (a - pos), b - a});
    pos += s.len;
  }
  return r;
}

const Tensor* const_of(const ir::Node& n, size_t i) {
  return n.has_input(i) && n.inputs[i]->is_constant() ? &n.inputs[i]->constant : nullptr;
}

int64_t dim_or(const ir::Value* v, int i) {
  if (!v || !v->desc.rank_known || i >= v->desc.rank()) return -1;
  return v->desc.shape[static_cast<size_t>(i)];
}

}  // namespace

Status analyze_channels(ir::Graph& g, const std::set<std::string>& keep, ChannelAnalysis& out) {
  out = {};
  Builder b;
  b.out = &out;
  std::map<const ir::Value*, ChannelMap> maps;
  auto map_of = [&](const ir::Value* v) -> const ChannelMap* {
    auto it = v ? maps.find(v) : maps.end();
    return it == maps.end() ? nullptr : &it->second;
  };
  auto act = [&](ActionKind k, ir::Node* n, const ChannelMap& m, int input = 0, int axis = 0) {
    out.actions.push_back({k, n, input, axis, m});
  };

  for (auto& up : g.nodes) {
    ir::Node& n = *up;
    const std::string& op = n.op_type;
    const ChannelMap* in0 = n.inputs.empty() ? nullptr : map_of(n.inputs[0]);
    bool kept = keep.count(n.name) != 0;
    for (auto* o : n.outputs)
      if (o && keep.count(o->name)) kept = true;
    auto block_inputs = [&](const std::string& why) {
      for (auto* v : n.inputs)
        if (auto* m = map_of(v)) b.block(*m, why);
    };
    if (!n.domain.empty() && n.domain != "ai.onnx") {
      block_inputs(n.label() + " is not understood");
      continue;
    }
    if (kept) block_inputs(n.label() + " is kept (--keep)");
    // Values a subgraph body reads from the outer scope keep all channels (bodies are not pruned).
    for (ir::Value* v : ir::subgraph_outer_reads(n))
      if (auto* m = map_of(v)) b.block(*m, v->name + " is read inside the subgraph of " + n.label());

    if (op == "Conv" || op == "ConvTranspose") {
      const Tensor* W = const_of(n, 1);
      int64_t groups = n.attr_int("group", 1);
      bool bias_ok = !n.has_input(2) || const_of(n, 2);
      if (!W || !bias_ok || W->rank() < 3) {
        block_inputs(n.label() + " has non-constant weights");
        continue;
      }
      bool transpose = op == "ConvTranspose";
      int64_t cout = transpose ? W->dim(1) * groups : W->dim(0);
      int64_t cin = transpose ? W->dim(0) : W->dim(1) * groups;
      if (in0 && in0->last) {
        block_inputs(n.label() + " reads features on the last axis");
        continue;
      }
      if (in0) {
        if (groups == 1) {
          act(transpose ? ActionKind::kConvTIn : ActionKind::kConvIn, &n, *in0);
          out.carriers.push_back({n.inputs[0], *in0});
        } else if (!transpose && groups == cin && cout == cin && !kept) {
          act(ActionKind::kDepthwise, &n, *in0);  // depthwise: channel i in -> channel i out
          maps[n.outputs[0]] = *in0;
          continue;
        } else {
          b.block(*in0, n.label() + " is a grouped convolution (group " + std::to_string(groups) + ")");
        }
      }
      if (groups != 1) continue;  // output filters of grouped convs stay as they are
      int gid = b.fresh(cout, &n);
      if (kept) b.block(gid, n.label() + " is kept (--keep)");
      ChannelMap m{{{gid, 0, cout}}, 1};
      act(transpose ? ActionKind::kConvTOut : ActionKind::kConvOut, &n, m);
      maps[n.outputs[0]] = m;
    } else if (op == "Gemm" || op == "MatMul") {
      const Tensor* B = const_of(n, 1);
      bool is_gemm = op == "Gemm";
      int xr = n.inputs[0]->desc.rank_known ? n.inputs[0]->desc.rank() : -1;
      // MatMul also takes [batch..., K] activations (transformer layers): features on the last axis.
      bool simple = B && B->rank() == 2 && (xr == 2 || (!is_gemm && xr >= 3 && (!in0 || in0->last))) &&
                    (!is_gemm || (n.attr_int("transA", 0) == 0 && (!n.has_input(2) || const_of(n, 2))));
      if (!simple) {
        block_inputs(n.label() + " is not a 2-D layer with constant weights");
        continue;
      }
      if (in0) {
        act(ActionKind::kGemmIn, &n, *in0);
        out.carriers.push_back({n.inputs[0], *in0});
      }
      bool transB = is_gemm && n.attr_int("transB", 0) != 0;
      int64_t nout = transB ? B->dim(0) : B->dim(1);
      int gid = b.fresh(nout, &n);
      if (kept) b.block(gid, n.label() + " is kept (--keep)");
      ChannelMap m{{{gid, 0, nout}}, 1, xr >= 3};
      act(ActionKind::kGemmOut, &n, m);
      maps[n.outputs[0]] = m;
    } else if (!in0 && op != "Concat" && !kElementwise.count(op)) {
      continue;  // no channel path through this node
    } else if (op == "BatchNormalization" || op == "InstanceNormalization") {
      bool consts = true;
      for (size_t i = 1; i < n.inputs.size(); ++i) consts = consts && const_of(n, i);
      if (!consts || in0->spatial != 1 || in0->last) {
        block_inputs(n.label() + " has non-constant parameters");
        continue;
      }
      act(ActionKind::kBatchNorm, &n, *in0);
      maps[n.outputs[0]] = *in0;
    } else if (kPassThrough.count(op)) {
      int rin = n.inputs[0]->desc.rank_known ? n.inputs[0]->desc.rank() : -1;
      int rout = n.outputs[0]->desc.rank_known ? n.outputs[0]->desc.rank() : -2;
      int cax = in0->last ? rin - 1 : 1;
      int64_t ci = dim_or(n.inputs[0], cax), co = dim_or(n.outputs[0], cax);
      bool pool = op.find("Pool") != std::string::npos || op == "Resize" || op == "Upsample" || op == "Pad";
      if (ci < 0 || ci != co || rin != rout || in0->spatial != 1 || (in0->last && pool)) {
        block_inputs(n.label() + " changes the channel axis");
        continue;
      }
      maps[n.outputs[0]] = *in0;
    } else if (kElementwise.count(op)) {
      // All mapped inputs are unified; constants broadcast along the channel axis are sliced.
      const ChannelMap* first = nullptr;
      bool ok = n.outputs[0]->desc.rank_known;
      int out_rank = ok ? n.outputs[0]->desc.rank() : -1;
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        ir::Value* v = n.inputs[i];
        if (!v) continue;
        if (auto* m = map_of(v)) {
          if (!v->desc.rank_known || v->desc.rank() != out_rank) ok = false;
          else if (!first) first = m;
          else if (!b.unify(*first, *m)) ok = false;
        }
      }
      if (!ok) {
        block_inputs(n.label() + " mixes channels of different layouts");
        continue;
      }
      if (!first) continue;
      int64_t C = first->channels() * first->spatial;
      for (size_t i = 0; i < n.inputs.size() && ok; ++i) {
        ir::Value* v = n.inputs[i];
        if (!v || map_of(v)) continue;
        int r = v->desc.rank_known ? v->desc.rank() : -1;
        int cax = first->last ? out_rank - 1 : 1;
        int axis = r - (out_rank - cax);  // the operand's axis aligned with the channel axis
        int64_t d = (r < 0) ? -1 : (axis >= 0 ? v->desc.shape[static_cast<size_t>(axis)] : 1);
        if (d == 1) continue;
        if (d == C && v->is_constant() && first->spatial == 1) {
          act(ActionKind::kConstOperand, &n, *first, static_cast<int>(i), axis);
        } else {
          ok = false;
        }
      }
      if (!ok) {
        block_inputs(n.label() + " mixes channels of different layouts");
        continue;
      }
      maps[n.outputs[0]] = *first;
    } else if (op == "Concat") {
      int rank = n.outputs[0]->desc.rank_known ? n.outputs[0]->desc.rank() : -1;
      int64_t axis = n.attr_int("axis", 0);
      if (axis < 0) axis += rank;
      bool any = false;
      for (auto* v : n.inputs) any = any || map_of(v);
      if (!any) continue;
      if (axis != 1) {
        block_inputs(n.label() + " concatenates along axis " + std::to_string(axis));
        continue;
      }
      ChannelMap m;
      bool ok = true;
      for (auto* v : n.inputs) {
        const ChannelMap* vm = map_of(v);
        ChannelMap fixed;
        if (!vm) {  // an unmapped input: its channels form a group that stays
          int64_t c = dim_or(v, 1);
          if (c < 0) { ok = false; break; }
          int gid = b.fresh(c, nullptr);
          b.block(gid, "channels from " + v->name + " (no prunable producer)");
          fixed.segs.push_back({gid, 0, c});
          vm = &fixed;
        }
        if (vm->spatial != 1 || vm->last) ok = false;
        m.segs.insert(m.segs.end(), vm->segs.begin(), vm->segs.end());
      }
      if (!ok) {
        block_inputs(n.label() + " has inputs of unknown channel count");
        continue;
      }
      maps[n.outputs[0]] = m;
    } else if (op == "Split") {
      int64_t axis = n.attr_int("axis", 0);
      int rank = n.inputs[0]->desc.rank();
      if (axis < 0) axis += rank;
      std::vector<int64_t> sizes;
      for (auto* o : n.outputs) sizes.push_back(dim_or(o, 1));
      bool ok = axis == 1 && in0->spatial == 1 && !in0->last && (n.opset < 13 || !n.has_input(1) || const_of(n, 1));
      for (auto s : sizes) ok = ok && s >= 0;
      if (!ok) {
        block_inputs(n.label() + " is not a constant split along channels");
        continue;
      }
      act(ActionKind::kSplit, &n, *in0);
      int64_t start = 0;
      for (size_t i = 0; i < n.outputs.size(); ++i) {
        if (n.outputs[i]) maps[n.outputs[i]] = slice_map(*in0, start, sizes[i]);
        start += sizes[i];
      }
    } else if (op == "Flatten" || op == "Reshape") {
      // Only [N, C, ...] -> [N, C*rest]: channel c owns features c*rest .. (c+1)*rest-1.
      const ir::Value* x = n.inputs[0];
      const ir::Value* y = n.outputs[0];
      // The batch dim may be symbolic; the others must be known.
      bool ok = !in0->last && x->desc.rank_known && y->desc.rank_known && y->desc.rank() == 2 && x->desc.rank() >= 2 &&
                (op == "Flatten" ? n.attr_int("axis", 1) == 1 : true);
      int64_t rest = 1;
      for (int i = 2; ok && i < x->desc.rank(); ++i) {
        ok = x->desc.shape[static_cast<size_t>(i)] >= 0;
        rest *= x->desc.shape[static_cast<size_t>(i)];
      }
      ok = ok && x->desc.shape[1] >= 0;
      if (op == "Reshape") {
        const Tensor* s = const_of(n, 1);
        ok = ok && s && s->numel() == 2 && (s->value_as_int(1) == -1 || s->value_as_int(1) == x->desc.shape[1] * rest) &&
             (s->value_as_int(0) == 0 || s->value_as_int(0) == dim_or(x, 0) || s->value_as_int(1) != -1);
      }
      if (!ok) {
        block_inputs(n.label() + " does not flatten [N, C, ...] to [N, C*rest]");
        continue;
      }
      ChannelMap m = *in0;
      m.spatial = in0->spatial * rest;
      if (op == "Reshape") act(ActionKind::kReshape, &n, m);
      maps[n.outputs[0]] = m;
    } else {
      block_inputs(n.label() + " is not understood by the channel analysis");
    }
  }
  for (auto* o : g.outputs)
    if (auto* m = map_of(o)) b.block(*m, "graph output " + o->name);

  // Resolve the union-find into dense group ids.
  std::map<int, int> dense;
  for (int gi = 0; gi < static_cast<int>(b.groups.size()); ++gi) {
    int r = b.find(gi);
    if (!dense.count(r)) {
      dense[r] = static_cast<int>(out.groups.size());
      out.groups.push_back(b.groups[r]);
    }
  }
  auto remap = [&](ChannelMap& m) {
    for (auto& s : m.segs) s.group = dense[b.find(s.group)];
  };
  for (auto& a : out.actions) remap(a.map);
  for (auto& c : out.carriers) remap(c.second);
  for (auto& G : out.groups)
    if (!G.prunable && !G.sources.empty()) out.notes.push_back(G.sources[0]->label() + " left alone: " + G.reason);
  for (std::string& note : quant::recurrent_and_subgraph_notes(g, true)) out.notes.push_back(std::move(note));
  return Status::ok();
}

std::vector<int64_t> kept_indices(const ChannelMap& map, const std::vector<std::vector<bool>>& keep,
                                  bool expand_spatial) {
  std::vector<int64_t> idx;
  int64_t pos = 0;
  int64_t sp = expand_spatial ? map.spatial : 1;
  for (auto& s : map.segs) {
    for (int64_t i = 0; i < s.len; ++i) {
      bool k = s.group < 0 || static_cast<size_t>(s.group) >= keep.size() || keep[s.group].empty() ||
               keep[s.group][static_cast<size_t>(s.goff + i)];
      if (k)
        for (int64_t j = 0; j < sp; ++j) idx.push_back((pos + i) * sp + j);
    }
    pos += s.len;
  }
  return idx;
}

}  // namespace joule::prune
