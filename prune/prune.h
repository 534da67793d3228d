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
#include "prune/channel_groups.h"
#include "runtime/ir/graph.h"

namespace joule::prune {

enum class Criterion { kL1, kL2, kBatchNorm, kActivation };

/// One calibration sample: inputs by name ("" = model order).
using Sample = std::vector<std::pair<std::string, Tensor>>;

struct PruneOptions {
  double ratio = 0.3;          // fraction of each group's channels removed (or of all, with global)
  double target_macs = 0;      // > 0: keep this fraction of MACs (global threshold searched)
  bool global = false;         // one threshold over normalized scores of all groups
  Criterion criterion = Criterion::kL1;
  std::set<std::string> keep;  // node / output names never pruned
  bool reconstruct = false;    // least-squares refit of the layers after pruned channels
  double ridge = 1e-3;         // ridge strength relative to the mean diagonal of X^T X
  int64_t max_rows = 16384;    // calibration rows (positions) used per refit
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
};

/// Deep copy of a graph (constant tensors share storage; pruning never writes into them).
ir::Graph clone_graph(const ir::Graph& g);

/// Prunes `g` in place. `calib` feeds the activation criterion, reconstruction and fidelity;
/// `labels` (one class per calibration sample) adds accuracy to the fidelity.
Status prune_graph(ir::Graph& g, const PruneOptions& opts, const std::vector<Sample>& calib,
                   const std::vector<int64_t>& labels, PruneReport& report);

// ---- building blocks (exposed for tests) -----------------------------------------------------

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
