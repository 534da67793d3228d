// prune_graph: analysis -> scores -> keep masks (ratio or MAC target) -> shrink -> reconstruction.
#include <algorithm>
#include <cmath>

#include "prune/prune.h"
#include "runtime/cost_model.h"
#include "runtime/passes/passes.h"

namespace joule::prune {

namespace {

// MACs for the bound input shapes (on a copy, with its shape arithmetic folded).
int64_t count_macs(const ir::Graph& g, const std::map<std::string, Shape>& bound) {
  ir::Graph c = clone_graph(g);
  for (auto& v : c.values)
    if (v->producer && !v->is_constant()) v->desc = {};
  if (!passes::infer_shapes(c, bound).is_ok() || !passes::fold_constants(c).is_ok()) return -1;
  return estimate_cost(c).macs;
}

// Forgets the inferred shapes of computed values and infers them again for the bound inputs.
Status reinfer(ir::Graph& g, const std::map<std::string, Shape>& bound, KnownValues* known = nullptr) {
  for (auto& v : g.values)
    if (v->producer && !v->is_constant()) v->desc = {};
  JOULE_RETURN_IF_ERROR(passes::infer_shapes(g, bound));
  return specialize(g, bound, known);
}

int64_t count_params(const ir::Graph& g) {
  int64_t p = 0;
  std::set<const ir::Value*> seen;
  for (auto& n : g.nodes)
    for (auto* v : n->inputs)
      if (v && v->is_constant() && seen.insert(v).second && dtype_is_float(v->constant.dtype())) p += v->constant.numel();
  return p;
}

}  // namespace

Status specialize(ir::Graph& g, const std::map<std::string, Shape>& bound, KnownValues* known) {
  ir::Graph c = clone_graph(g);
  for (auto& v : c.values)
    if (v->producer && !v->is_constant()) v->desc = {};
  JOULE_RETURN_IF_ERROR(passes::infer_shapes(c, bound).with_context("specializing shapes for pruning"));
  JOULE_RETURN_IF_ERROR(passes::fold_constants(c).with_context("folding shape arithmetic for pruning"));
  for (auto& v : g.values) {
    if (v->is_constant()) continue;
    const ir::Value* cv = c.find_value(v->name);
    if (!cv) continue;
    if (cv->desc.fully_known() && !v->desc.fully_known()) v->desc = cv->desc;
    if (known && cv->is_constant() && dtype_is_integer(cv->constant.dtype()) && cv->constant.numel() <= 64)
      (*known)[v->name] = cv->constant.to_int64_vector();
  }
  return Status::ok();
}

Status prune_graph(ir::Graph& g, const PruneOptions& opts, const std::vector<Sample>& calib,
                   const std::vector<int64_t>& labels, PruneReport& report) {
  report = {};
  if (!(opts.ratio >= 0 && opts.ratio < 1)) return invalid_argument("--ratio must be in [0, 1)");
  if (!(opts.heads >= 0 && opts.heads < 1)) return invalid_argument("--heads must be in [0, 1)");
  if (!(opts.ffn < 1)) return invalid_argument("--ffn must be in [0, 1)");
  if (opts.target_macs != 0 && !(opts.target_macs > 0 && opts.target_macs <= 1))
    return invalid_argument("--target-macs must be in (0, 1]");
  // The analysis needs concrete shapes: symbolic input dims are bound to 1 while pruning, and the
  // model's own input/output declarations are restored at the end.
  std::vector<std::pair<ir::TensorDesc, std::vector<std::string>>> io_descs;
  for (auto* v : g.inputs) io_descs.push_back({v->desc, v->dim_params});
  for (auto* v : g.outputs) io_descs.push_back({v->desc, v->dim_params});
  // Symbolic dims take the first calibration sample's sizes (1 without calibration).
  std::map<std::string, Shape> bound;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    ir::Value* v = g.inputs[i];
    Shape s = v->desc.shape;
    if (!calib.empty()) {
      for (size_t j = 0; j < calib[0].size(); ++j)
        if (calib[0][j].first == v->name || (calib[0][j].first.empty() && j == i)) s = calib[0][j].second.shape();
    }
    for (auto& d : s)
      if (d < 0) d = 1;
    if (v->desc.rank_known || !calib.empty()) bound[v->name] = s;
  }
  KnownValues known;
  JOULE_RETURN_IF_ERROR(passes::infer_shapes(g, bound));
  JOULE_RETURN_IF_ERROR(specialize(g, bound, &known));
  ir::Graph original = clone_graph(g);
  report.macs_before = count_macs(g, bound);
  report.params_before = count_params(g);

  // Attention heads first (their shapes change the FFN inputs' producers only through constants).
  HeadAnalysis ha;
  JOULE_RETURN_IF_ERROR(analyze_heads(g, known, opts.keep, ha));
  for (auto& B : ha.blocks) report.heads_before += B.heads, report.heads_after += B.heads;
  if (opts.heads > 0) {
    report.notes.insert(report.notes.end(), ha.notes.begin(), ha.notes.end());
    if (std::none_of(ha.blocks.begin(), ha.blocks.end(), [](const AttentionBlock& x) { return x.prunable; }))
      report.notes.push_back("--heads: no prunable attention heads found");
    std::vector<std::vector<double>> hs;
    JOULE_RETURN_IF_ERROR(head_scores(g, ha, opts.criterion, calib, hs));
    auto hkeep = choose_heads(ha, hs, opts.heads);
    report.heads_after = 0;
    for (size_t b = 0; b < ha.blocks.size(); ++b) {
      int64_t k = hkeep[b].empty() ? ha.blocks[b].heads : std::count(hkeep[b].begin(), hkeep[b].end(), true);
      report.heads_after += k;
      if (ha.blocks[b].prunable) report.layers.push_back({ha.blocks[b].label() + " (heads)", ha.blocks[b].heads, k});
    }
    JOULE_RETURN_IF_ERROR(shrink_heads(g, ha, hkeep));
    known.clear();
    JOULE_RETURN_IF_ERROR(reinfer(g, bound, &known));
  }

  // Projections of pruned attention blocks are reported as heads, not as channel layers.
  std::set<std::string> attention_layers;
  if (opts.heads > 0)
    for (auto& B : ha.blocks)
      if (B.prunable) {
        for (ir::Node* n : B.projections) attention_layers.insert(n->label());
        for (ir::Node* n : B.outputs) attention_layers.insert(n->label());
      }
  ChannelAnalysis a;
  JOULE_RETURN_IF_ERROR(analyze_channels(g, opts.keep, a));
  for (auto& note : a.notes) {
    auto cut = note.find(" left alone: ");
    if (cut == std::string::npos || !attention_layers.count(note.substr(0, cut))) report.notes.push_back(note);
  }
  bool channels_wanted = opts.ratio > 0 || opts.ffn > 0 || opts.target_macs > 0;
  if (channels_wanted && std::none_of(a.groups.begin(), a.groups.end(), [](const ChannelGroup& x) { return x.prunable; }))
    report.notes.push_back("no prunable channels found");
  std::vector<std::vector<double>> scores;
  JOULE_RETURN_IF_ERROR(channel_scores(g, a, opts.criterion, calib, scores));

  std::vector<std::vector<bool>> keep;
  if (opts.target_macs > 0) {
    // Bisection on the global ratio: the smallest ratio whose MACs reach the target.
    double lo = 0, hi = 0.95;
    for (int it = 0; it < 14; ++it) {
      double mid = 0.5 * (lo + hi);
      ir::Graph c = clone_graph(g);
      ChannelAnalysis ac;
      JOULE_RETURN_IF_ERROR(analyze_channels(c, opts.keep, ac));
      JOULE_RETURN_IF_ERROR(shrink(c, ac, choose_keep(a, scores, mid, true)));
      int64_t macs = count_macs(c, bound);
      if (macs >= 0 && static_cast<double>(macs) <= opts.target_macs * static_cast<double>(report.macs_before)) hi = mid;
      else lo = mid;
    }
    report.ratio_used = hi;
    keep = choose_keep(a, scores, hi, true);
  } else {
    report.ratio_used = opts.ratio;
    keep = choose_keep(a, scores, opts.ratio, opts.global);
    if (opts.ffn >= 0 && !opts.global) {
      // Transformer feature groups (sources are MatMuls on [.., seq, features]) use --ffn.
      auto ffn_keep = choose_keep(a, scores, opts.ffn, false);
      for (auto& act : a.actions)
        if (act.kind == ActionKind::kGemmOut && act.map.last)
          for (auto& s : act.map.segs) keep[s.group] = ffn_keep[s.group];
    }
  }

  // Per-layer report and the kept output channels of every source layer (for reconstruction).
  std::map<std::string, std::vector<int64_t>> kept_out, bn_kept;
  for (auto& act : a.actions) {
    if (act.kind != ActionKind::kConvOut && act.kind != ActionKind::kGemmOut && act.kind != ActionKind::kConvTOut)
      continue;
    auto idx = kept_indices(act.map, keep);
    if (!attention_layers.count(act.node->label()))
      report.layers.push_back({act.node->label(), act.map.channels(), static_cast<int64_t>(idx.size())});
    kept_out[act.node->outputs[0]->name] = idx;
  }
  for (auto& act : a.actions) {
    if (act.kind == ActionKind::kDepthwise) kept_out[act.node->outputs[0]->name] = kept_indices(act.map, keep);
    if (act.kind == ActionKind::kBatchNorm) bn_kept[act.node->outputs[0]->name] = kept_indices(act.map, keep);
  }

  JOULE_RETURN_IF_ERROR(shrink(g, a, keep));
  JOULE_RETURN_IF_ERROR(reinfer(g, bound));
  report.macs_after = count_macs(g, bound);
  if (report.macs_after < 0) return internal_error("pruning left inconsistent shapes (a bug: please report the model)");
  report.params_after = count_params(g);

  if (!calib.empty()) {
    report.has_fidelity = true;
    JOULE_RETURN_IF_ERROR(
        measure_fidelity(original, g, calib, labels, report.before_reconstruction, &report.original));
    // BatchNorm statistics first: reconstruction then refits each layer on the inputs the final
    // model really produces (re-estimating after it would move the inputs the refits were fitted on).
    report.after_bn = report.before_reconstruction;
    if (opts.reestimate_bn) {
      JOULE_RETURN_IF_ERROR(reestimate_bn(original, g, calib, bn_kept, report.bn_reestimated));
      if (report.bn_reestimated > 0)
        JOULE_RETURN_IF_ERROR(measure_fidelity(original, g, calib, labels, report.after_bn));
    }
    report.after_reconstruction = report.after_bn;
    if (opts.reconstruct) {
      JOULE_RETURN_IF_ERROR(reconstruct(original, g, calib, kept_out, opts, report.notes));
      JOULE_RETURN_IF_ERROR(measure_fidelity(original, g, calib, labels, report.after_reconstruction));
    }
  } else if (opts.reconstruct) {
    return invalid_argument("--reconstruct needs calibration samples (--calib DIR)");
  }
  // Restore the declared (possibly symbolic) input/output shapes and forget the bound ones.
  for (auto& v : g.values)
    if (v->producer && !v->is_constant()) v->desc = {};
  size_t k = 0;
  for (auto* v : g.inputs) v->desc = io_descs[k].first, v->dim_params = io_descs[k].second, ++k;
  for (auto* v : g.outputs) {
    // Output channels are never pruned, so the declaration still holds.
    v->desc = io_descs[k].first, v->dim_params = io_descs[k].second, ++k;
  }
  return Status::ok();
}

}  // namespace joule::prune
