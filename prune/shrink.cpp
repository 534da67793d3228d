// Scores, keep masks and the shrink pass that physically slices weights.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>

#include "prune/prune.h"
#include "runtime/passes/passes.h"

namespace joule::prune {

ir::Graph clone_graph(const ir::Graph& g) {
  ir::Graph c;
  c.name = g.name;
  c.opset_imports = g.opset_imports;
  c.ir_version = g.ir_version;
  c.producer_name = g.producer_name;
  c.parent = g.parent;
  std::map<const ir::Value*, ir::Value*> vm;
  for (auto& v : g.values) {
    ir::Value* nv = c.add_value(v->name);
    nv->desc = v->desc;
    nv->dim_params = v->dim_params;
    nv->constant = v->constant;
    nv->quant = v->quant;
    vm[v.get()] = nv;
  }
  auto m = [&](ir::Value* v) { return v ? vm.at(v) : nullptr; };
  for (auto& n : g.nodes) {
    std::vector<ir::Value*> ins, outs;
    for (auto* v : n->inputs) ins.push_back(m(v));
    for (auto* v : n->outputs) outs.push_back(m(v));
    ir::Node* nn = c.add_node(n->op_type, ins, outs, n->name, n->domain);
    nn->opset = n->opset;
    nn->attrs = n->attrs;
  }
  for (auto* v : g.inputs) c.inputs.push_back(m(v));
  for (auto* v : g.outputs) c.outputs.push_back(m(v));
  return c;
}

namespace {

// Copies the slices `idx` of `t` along `axis` (any fixed-size dtype).
Tensor slice_axis(const Tensor& t, int axis, const std::vector<int64_t>& idx) {
  Shape s = t.shape();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  for (int i = axis + 1; i < t.rank(); ++i) inner *= s[i];
  int64_t n = s[axis];
  s[axis] = static_cast<int64_t>(idx.size());
  Tensor r(t.dtype(), s);
  size_t es = dtype_size(t.dtype()), row = static_cast<size_t>(inner) * es;
  auto* src = static_cast<const char*>(t.raw());
  auto* dst = static_cast<char*>(r.raw());
  for (int64_t o = 0; o < outer; ++o)
    for (size_t k = 0; k < idx.size(); ++k)
      std::memcpy(dst + (o * static_cast<int64_t>(idx.size()) + static_cast<int64_t>(k)) * row,
                  src + (o * n + idx[k]) * row, row);
  return r;
}

}  // namespace

// Replaces input `i` of `n` by a new constant holding its slice (constants may be shared).
void slice_input(ir::Graph& g, ir::Node& n, size_t i, int axis, const std::vector<int64_t>& idx) {
  if (!n.has_input(i) || !n.inputs[i]->is_constant()) return;
  const Tensor& t = n.inputs[i]->constant;
  if (axis < 0) axis += t.rank();
  if (axis < 0 || axis >= t.rank()) return;
  n.inputs[i] = g.add_constant(n.inputs[i]->name, slice_axis(t, axis, idx));
}

namespace {

// Per-filter norm of a weight along `axis` (the output-channel axis), as doubles.
std::vector<double> filter_norms(const Tensor& w, int axis, bool l2) {
  Tensor f = w;
  std::vector<double> r(static_cast<size_t>(w.dim(axis)), 0.0);
  if (w.dtype() != DType::kF32) return r;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= w.dim(i);
  for (int i = axis + 1; i < w.rank(); ++i) inner *= w.dim(i);
  const float* p = w.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < w.dim(axis); ++c)
      for (int64_t k = 0; k < inner; ++k) {
        double x = p[(o * w.dim(axis) + c) * inner + k];
        r[static_cast<size_t>(c)] += l2 ? x * x : std::abs(x);
      }
  if (l2)
    for (auto& x : r) x = std::sqrt(x);
  return r;
}

void add_by_map(std::vector<std::vector<double>>& scores, const ChannelMap& m, const std::vector<double>& per_channel) {
  int64_t pos = 0;
  for (auto& s : m.segs) {
    for (int64_t i = 0; i < s.len; ++i)
      if (static_cast<size_t>(pos + i) < per_channel.size() && !scores[s.group].empty())
        scores[s.group][static_cast<size_t>(s.goff + i)] += per_channel[static_cast<size_t>(pos + i)];
    pos += s.len;
  }
}

}  // namespace

Status channel_scores(const ir::Graph& g, const ChannelAnalysis& a, Criterion c, const std::vector<Sample>& calib,
                      std::vector<std::vector<double>>& scores) {
  scores.assign(a.groups.size(), {});
  for (size_t i = 0; i < a.groups.size(); ++i)
    if (a.groups[i].prunable) scores[i].assign(static_cast<size_t>(a.groups[i].size), 0.0);
  if (c == Criterion::kActivation) {
    if (calib.empty()) return invalid_argument("the activation criterion needs calibration samples (--calib)");
    std::vector<std::string> names;
    for (auto& [v, m] : a.carriers) names.push_back(v->name);
    std::vector<std::vector<Tensor>> vals;
    JOULE_RETURN_IF_ERROR(collect_values(g, names, calib, vals));
    for (size_t k = 0; k < a.carriers.size(); ++k) {
      const ChannelMap& m = a.carriers[k].second;
      std::vector<double> mean(static_cast<size_t>(m.channels()), 0.0);
      for (auto& sample : vals) {
        const Tensor& t = sample[k];
        if (t.dtype() != DType::kF32 || t.rank() < 2) continue;
        if (m.last) {  // [..., C]: channel = index mod C
          int64_t C = t.shape().back();
          std::vector<double> acc(static_cast<size_t>(C), 0.0);
          for (int64_t i = 0; i < t.numel(); ++i) acc[static_cast<size_t>(i % C)] += std::abs(t.data<float>()[i]);
          for (int64_t c = 0; c < C && c < m.channels(); ++c) mean[static_cast<size_t>(c)] += acc[static_cast<size_t>(c)];
          continue;
        }
        int64_t C = t.dim(1), inner = t.numel() / std::max<int64_t>(1, t.dim(0) * C);
        int64_t per = std::max<int64_t>(1, inner * m.spatial / std::max<int64_t>(1, m.spatial));
        const float* p = t.data<float>();
        int64_t ch = m.channels();
        for (int64_t n = 0; n < t.dim(0); ++n)
          for (int64_t f = 0; f < C * inner; ++f) {
            int64_t chan = (f / inner) / m.spatial;  // feature -> channel (after Flatten, C = ch*spatial)
            if (chan < ch) mean[static_cast<size_t>(chan)] += std::abs(p[n * C * inner + f]) / per;
          }
      }
      add_by_map(scores, m, mean);
    }
    return Status::ok();
  }
  bool bn_found = false;
  if (c == Criterion::kBatchNorm) {
    for (auto& act : a.actions) {
      if (act.kind != ActionKind::kBatchNorm || act.node->op_type != "BatchNormalization") continue;
      const Tensor& gamma = act.node->inputs[1]->constant;
      if (gamma.dtype() != DType::kF32) continue;
      std::vector<double> v(static_cast<size_t>(gamma.numel()));
      for (int64_t i = 0; i < gamma.numel(); ++i) v[static_cast<size_t>(i)] = std::abs(gamma.data<float>()[i]);
      add_by_map(scores, act.map, v);
      bn_found = true;
    }
  }
  // Filter norms of the source layers (also the fallback for groups without BatchNorm).
  std::vector<std::vector<double>> norms(a.groups.size());
  for (size_t i = 0; i < a.groups.size(); ++i) norms[i].assign(scores[i].size(), 0.0);
  for (auto& act : a.actions) {
    const ir::Node& n = *act.node;
    int axis = -1;
    if (act.kind == ActionKind::kConvOut) axis = 0;
    if (act.kind == ActionKind::kConvTOut) axis = 1;
    if (act.kind == ActionKind::kGemmOut) axis = (n.op_type == "Gemm" && n.attr_int("transB", 0)) ? 0 : 1;
    if (axis < 0) continue;
    add_by_map(norms, act.map, filter_norms(n.inputs[1]->constant, axis, c == Criterion::kL2));
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    bool has_bn = bn_found && std::any_of(scores[i].begin(), scores[i].end(), [](double x) { return x != 0; });
    if (!has_bn) scores[i] = norms[i];
  }
  return Status::ok();
}

std::vector<std::vector<bool>> choose_keep(const ChannelAnalysis& a, const std::vector<std::vector<double>>& scores,
                                           double ratio, bool global) {
  std::vector<std::vector<bool>> keep(a.groups.size());
  struct Item { double s; size_t g; size_t c; };
  std::vector<Item> all;
  for (size_t gi = 0; gi < a.groups.size(); ++gi) {
    if (!a.groups[gi].prunable || scores[gi].empty()) continue;
    size_t n = scores[gi].size();
    keep[gi].assign(n, true);
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return scores[gi][x] < scores[gi][y]; });
    if (!global) {
      size_t drop = std::min(n - 1, static_cast<size_t>(std::floor(ratio * static_cast<double>(n) + 1e-9)));
      for (size_t k = 0; k < drop; ++k) keep[gi][order[k]] = false;
    } else {
      double mean = std::accumulate(scores[gi].begin(), scores[gi].end(), 0.0) / static_cast<double>(n);
      for (size_t k = 0; k + 1 < n; ++k)  // the best channel of each group always stays
        all.push_back({mean > 0 ? scores[gi][order[k]] / mean : 0.0, gi, order[k]});
    }
  }
  if (global) {
    size_t total = 0;
    for (auto& k : keep) total += k.size();
    std::stable_sort(all.begin(), all.end(), [](const Item& x, const Item& y) { return x.s < y.s; });
    size_t drop = std::min(all.size(), static_cast<size_t>(std::floor(ratio * static_cast<double>(total) + 1e-9)));
    for (size_t k = 0; k < drop; ++k) keep[all[k].g][all[k].c] = false;
  }
  return keep;
}

Status shrink(ir::Graph& g, const ChannelAnalysis& a, const std::vector<std::vector<bool>>& keep) {
  for (auto& act : a.actions) {
    ir::Node& n = *act.node;
    auto idx = kept_indices(act.map, keep, act.kind == ActionKind::kGemmIn);
    int64_t full = act.map.channels() * (act.kind == ActionKind::kGemmIn ? act.map.spatial : 1);
    bool transB = n.op_type == "Gemm" && n.attr_int("transB", 0) != 0;
    if (static_cast<int64_t>(idx.size()) == full && act.kind != ActionKind::kSplit) continue;
    switch (act.kind) {
      case ActionKind::kConvOut:
        slice_input(g, n, 1, 0, idx);
        slice_input(g, n, 2, 0, idx);
        break;
      case ActionKind::kConvIn: slice_input(g, n, 1, 1, idx); break;
      case ActionKind::kDepthwise:
        slice_input(g, n, 1, 0, idx);
        slice_input(g, n, 2, 0, idx);
        n.attrs["group"].kind = ir::Attribute::Kind::kInt;
        n.attrs["group"].i = static_cast<int64_t>(idx.size());
        break;
      case ActionKind::kConvTIn: slice_input(g, n, 1, 0, idx); break;
      case ActionKind::kConvTOut:
        slice_input(g, n, 1, 1, idx);
        slice_input(g, n, 2, 0, idx);
        break;
      case ActionKind::kBatchNorm:
        for (size_t i = 1; i < n.inputs.size(); ++i) slice_input(g, n, i, 0, idx);
        break;
      case ActionKind::kConstOperand: slice_input(g, n, static_cast<size_t>(act.input), act.axis, idx); break;
      case ActionKind::kGemmIn: slice_input(g, n, 1, transB ? 1 : 0, idx); break;
      case ActionKind::kGemmOut: {
        slice_input(g, n, 1, transB ? 0 : 1, idx);
        if (n.has_input(2) && n.inputs[2]->constant.numel() == full) slice_input(g, n, 2, -1, idx);
        break;
      }
      case ActionKind::kSplit: {
        std::vector<int64_t> sizes;
        int64_t start = 0;
        for (auto* o : n.outputs) {
          int64_t len = o ? o->desc.shape[1] : 0;
          int64_t kept = 0;
          for (auto i : idx) kept += (i >= start && i < start + len);
          sizes.push_back(kept);
          start += len;
        }
        if (n.opset >= 13 && n.has_input(1)) {
          n.inputs[1] = g.add_constant(n.inputs[1]->name, Tensor::from_vector<int64_t>({(int64_t)sizes.size()}, sizes));
        } else {
          n.attrs["split"].kind = ir::Attribute::Kind::kInts;
          n.attrs["split"].ints = sizes;
        }
        break;
      }
      case ActionKind::kReshape: {
        std::vector<int64_t> shape = n.inputs[1]->constant.to_int64_vector();
        if (shape[1] != -1) shape[1] = static_cast<int64_t>(kept_indices(act.map, keep, true).size());
        n.inputs[1] = g.add_constant(n.inputs[1]->name, Tensor::from_vector<int64_t>({2}, shape));
        break;
      }
    }
  }
  // Forget inferred shapes of computed values, then infer again from the new constants.
  for (auto& v : g.values)
    if (v->producer && !v->is_constant()) v->desc = {};
  g.compact();
  JOULE_RETURN_IF_ERROR(passes::infer_shapes(g));
  return ir::verify_graph(g);
}

}  // namespace joule::prune
