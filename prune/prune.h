// Structured pruning of an IR graph: whole channels (filters) are removed, so the result is a
// smaller dense model. See channel_groups.h for the dependency analysis.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"
#include "prune/attention_heads.h"
#include "prune/channel_groups.h"
#include "runtime/ir/graph.h"

namespace joule::prune {

enum class Criterion { kL1, kL2, kBatchNorm, kActivation };

/// One calibration sample: inputs by name ("" = model order).
using Sample = std::vector<std::pair<std::string, Tensor>>;

struct PruneOptions {
  double ratio = 0.3;          // fraction of each group's channels removed (or of all, with global)
  double ffn = -1;             // >= 0: ratio for transformer features (MatMul on [.., seq, features]) instead
  double heads = 0;            // fraction of each attention block's heads removed
  double target_macs = 0;      // > 0: keep this fraction of MACs (global threshold searched)
  bool global = false;         // one threshold over normalized scores of all groups
  Criterion criterion = Criterion::kL1;
  std::set<std::string> keep;  // node / output names never pruned
  bool reconstruct = false;    // least-squares refit of the layers after pruned channels
  double ridge = 1e-3;         // ridge strength relative to the mean diagonal of X^T X
  int64_t max_rows = 16384;    // calibration rows (positions) used per refit
  bool reestimate_bn = false;  // re-estimate BatchNorm statistics on the calibration samples (before --reconstruct)
};

struct LayerReport {
  std::string node;
  int64_t before = 0, after = 0;  // output channels
};

struct Fidelity {
  double cosine = 0;     // mean cosine similarity of output 0 to the unpruned model's
  double top1 = 0;       // fraction of samples whose argmax matches the unpruned model's
  double accuracy = -1;  // with labels; -1 without
  int samples = 0;
};

struct PruneReport {
  std::vector<LayerReport> layers;
  int64_t macs_before = 0, macs_after = 0;
  int64_t params_before = 0, params_after = 0;
  double ratio_used = 0;  // the global ratio chosen for --target-macs
  std::vector<std::string> notes;
  bool has_fidelity = false;
  Fidelity before_reconstruction, after_reconstruction, original;
  int bn_reestimated = 0;  // BatchNorm layers whose statistics were re-estimated
  Fidelity after_bn;       // after BatchNorm re-estimation (which runs before reconstruction)
  int64_t heads_before = 0, heads_after = 0;  // attention heads over all blocks
};

/// Deep copy of a graph (constant tensors share storage; pruning never writes into them).
ir::Graph clone_graph(const ir::Graph& g);

/// Prunes `g` in place. `calib` feeds the activation criterion, reconstruction and fidelity;
/// `labels` (one class per calibration sample) adds accuracy to the fidelity.
Status prune_graph(ir::Graph& g, const PruneOptions& opts, const std::vector<Sample>& calib,
                   const std::vector<int64_t>& labels, PruneReport& report);

// ---- building blocks (exposed for tests) -----------------------------------------------------

/// Fills in the shapes of `g`'s values for the bound input shapes: a copy is inferred with them and
/// its shape arithmetic (Shape->Gather->Concat->Reshape) folded, and every value whose shape the
/// copy knows gets it in `g` (g's nodes are untouched, so the model stays valid for any input
/// shape). The folded integer values of non-constant tensors go to `known` (when given).
Status specialize(ir::Graph& g, const std::map<std::string, Shape>& bound, KnownValues* known = nullptr);
/// Per-head importance of each attention block: filter norms of the head's Q/K/V columns and
/// output-projection rows (l1/l2, also for bn), or mean |activation| of its merged output (activation).
Status head_scores(const ir::Graph& g, const HeadAnalysis& a, Criterion c, const std::vector<Sample>& calib,
                   std::vector<std::vector<double>>& scores);
/// Replaces input `i` of `n` (a constant) by its slice `idx` along `axis` (negative: from the end).
void slice_input(ir::Graph& g, ir::Node& n, size_t i, int axis, const std::vector<int64_t>& idx);
/// Re-estimates the statistics of every BatchNormalization of `pruned`, in order, so its output
/// moments per channel on the calibration samples match the original model's:
///   s' = s * sd_p / sd_o,  var' = s'^2 - eps,  mean' = m_p - (m_o - mean) * s' / s
/// (s = sqrt(var + eps); m, sd: moments of the BN input in the original (o) and pruned (p) model).
/// With calibration data distributed like the training data this is plain re-estimation
/// (mean' = m_p, var' ~ var_p). `kept` maps a BN output name to the original channels it kept.
Status reestimate_bn(const ir::Graph& original, ir::Graph& pruned, const std::vector<Sample>& calib,
                     const std::map<std::string, std::vector<int64_t>>& kept, int& layers);

/// Per-channel importance of every group (empty for groups that are not prunable).
Status channel_scores(const ir::Graph& g, const ChannelAnalysis& a, Criterion c, const std::vector<Sample>& calib,
                      std::vector<std::vector<double>>& scores);
/// Keep masks from scores: per group `ratio`, or one global threshold over normalized scores.
std::vector<std::vector<bool>> choose_keep(const ChannelAnalysis& a, const std::vector<std::vector<double>>& scores,
                                           double ratio, bool global);
/// Slices every constant the analysis names and re-infers shapes; `g` must be the analysed graph.
Status shrink(ir::Graph& g, const ChannelAnalysis& a, const std::vector<std::vector<bool>>& keep);
/// Refits the weight layers after pruned channels so their outputs match `original`'s.
/// `kept_out` maps a layer's output name to the original output channels it kept (absent: all).
Status reconstruct(const ir::Graph& original, ir::Graph& pruned, const std::vector<Sample>& calib,
                   const std::map<std::string, std::vector<int64_t>>& kept_out, const PruneOptions& opts,
                   std::vector<std::string>& notes);
/// Runs `g` on the samples and returns the values named (graph outputs when empty), per sample.
Status collect_values(const ir::Graph& g, const std::vector<std::string>& names, const std::vector<Sample>& calib,
                      std::vector<std::vector<Tensor>>& out);
/// Compares the outputs of two models on the calibration samples.
Status measure_fidelity(const ir::Graph& reference, const ir::Graph& candidate, const std::vector<Sample>& calib,
                        const std::vector<int64_t>& labels, Fidelity& out, Fidelity* reference_accuracy = nullptr);

}  // namespace joule::prune
