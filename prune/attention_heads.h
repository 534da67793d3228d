// Attention-head analysis for structured pruning of transformer encoders.
//
// A head is `head_dim` consecutive output columns of each Q/K/V projection (MatMul [K, H] + bias),
// the matching slices after the Reshape [.., H] -> [.., heads, head_dim] ("split"), and
// `head_dim` consecutive input rows of the output projection after the Reshape
// [.., heads, head_dim] -> [.., H] ("merge"). The analysis labels every tensor between the splits
// and the merges with its head axis (and within-head feature axis), following Transpose, batched
// MatMul, Softmax, elementwise ops whose other operand broadcasts over heads (mask, scale) and Shape
// reads of axes other than the head axis. Splits and merges joined by that walk form one attention
// block whose heads are removed together. Anything else touching a labeled tensor (graph outputs,
// unknown ops, operands that vary per head, shape constants that cannot be rewritten) leaves the
// block alone, with the reason in `notes`.
//
// Reshape targets in torch exports come from Shape->Gather->Unsqueeze->Concat chains; `known` holds
// their values for the calibration shapes (see specialize() in prune.h). The head count and
// hidden size are constant entries of those Concats (or of a constant shape), and shrink_heads()
// rewrites exactly those entries, so the batch and sequence dims stay symbolic.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "joule/status.h"
#include "runtime/ir/graph.h"

namespace joule::prune {

/// Values of integer tensors computed from shapes (by value name), for the calibration shapes.
using KnownValues = std::map<std::string, std::vector<int64_t>>;

/// One entry of a Reshape's target shape to rewrite: input `input` of `node` (the Reshape's
/// constant shape, or a constant operand of the Concat that builds it), element `entry`, becomes
/// kept_heads x `per_head`.
struct ShapeEdit {
  ir::Node* node = nullptr;
  int input = 0;
  int64_t entry = 0;
  int64_t per_head = 1;
};

struct AttentionBlock {
  int64_t heads = 0, head_dim = 0;
  std::vector<ir::Node*> projections;             // Q/K/V MatMuls, weight [K, heads*head_dim]
  std::vector<std::pair<ir::Node*, int>> biases;  // bias Adds and the input index of their constant
  std::vector<ir::Node*> splits, merges;          // the Reshapes
  std::vector<ir::Node*> outputs;                 // output projections, weight [heads*head_dim, N]
  std::vector<ShapeEdit> edits;
  bool prunable = true;
  std::string reason;
  std::string label() const;
};

struct HeadAnalysis {
  std::vector<AttentionBlock> blocks;
  std::vector<std::string> notes;
};

/// Finds the attention blocks of `g` (shapes inferred for the calibration shapes).
Status analyze_heads(const ir::Graph& g, const KnownValues& known, const std::set<std::string>& keep,
                     HeadAnalysis& out);

/// Keep masks per block: drops floor(ratio x heads) lowest-scored heads (at least one stays).
std::vector<std::vector<bool>> choose_heads(const HeadAnalysis& a, const std::vector<std::vector<double>>& scores,
                                            double ratio);

/// Slices the projections, biases and output projections and rewrites the shape entries.
Status shrink_heads(ir::Graph& g, const HeadAnalysis& a, const std::vector<std::vector<bool>>& keep);

/// Column (or row) indices kept for a block's projections: head j owns j*head_dim .. +head_dim-1.
std::vector<int64_t> head_columns(const AttentionBlock& b, const std::vector<bool>& keep);

}  // namespace joule::prune
