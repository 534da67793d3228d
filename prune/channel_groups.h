// Channel dependency analysis for structured pruning.
//
// Every tensor on a channel path (axis 1, NCHW or [N, features]) gets a ChannelMap: its channels in
// order, as segments of "channel groups". A group is a set of channels that must be removed together
// everywhere: the output filters of a Conv, and, through residual Add/Mul, the outputs of every Conv
// feeding the same sum (coupled channels). Concat stacks segments (offset bookkeeping), Split slices
// them, depthwise Conv passes them through (its group count follows), BatchNorm and activations pass
// them through, Flatten folds the spatial size into a factor so a following Gemm/MatMul knows which
// weight columns belong to a channel.
//
// The analysis records Actions: each says which node's constant must be sliced along which axis
// with which map. A group touched by anything the analysis does not understand, by a graph output,
// or by a node the user keeps, is marked not prunable (safe default) with the reason.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "joule/status.h"
#include "runtime/ir/graph.h"

namespace joule::prune {

/// `len` channels of group `group` starting at the group's channel `goff`.
struct Segment {
  int group = -1;
  int64_t goff = 0;
  int64_t len = 0;
};

/// A tensor's channel axis as consecutive segments; `spatial` > 1 after Flatten (each channel
/// owns `spatial` consecutive features).
struct ChannelMap {
  std::vector<Segment> segs;
  int64_t spatial = 1;
  bool last = false;  // channels on the last axis ([batch, seq, features] after MatMul), not axis 1
  int64_t channels() const;
};

enum class ActionKind {
  kConvOut,       // Conv W axis 0 + bias (the group's source filters)
  kConvIn,        // Conv (group=1) W axis 1
  kDepthwise,     // depthwise Conv W axis 0 + bias, `group` attribute = kept channels
  kConvTIn,       // ConvTranspose (group=1) W axis 0
  kConvTOut,      // ConvTranspose (group=1) W axis 1 + bias
  kBatchNorm,     // scale, B, mean, var axis 0
  kConstOperand,  // a constant operand of an elementwise op, sliced along `axis`
  kGemmIn,        // Gemm/MatMul weight: rows (or columns when transB) per channel x spatial
  kGemmOut,       // Gemm/MatMul weight output features + bias
  kSplit,         // Split sizes recomputed from the kept channels of each output range
  kReshape,       // Reshape to [N, C*spatial]: the constant's second entry recomputed
};

struct Action {
  ActionKind kind;
  ir::Node* node = nullptr;
  int input = 0;   // input index of the constant sliced (kConstOperand)
  int axis = 0;    // axis sliced (kConstOperand)
  ChannelMap map;  // channels of the tensor this action follows
};

struct ChannelGroup {
  int64_t size = 0;
  bool prunable = true;
  std::string reason;                 // why not prunable
  std::vector<ir::Node*> sources;     // nodes whose output filters form the group
};

struct ChannelAnalysis {
  std::vector<ChannelGroup> groups;
  std::vector<Action> actions;
  /// Values read by a weight layer (Conv/Gemm input): used for activation scores and reconstruction.
  std::vector<std::pair<ir::Value*, ChannelMap>> carriers;
  std::vector<std::string> notes;  // what was left alone and why
};

/// Builds the channel groups of `g` (shapes must be inferred). Nodes named in `keep` (node name or
/// output value name) are left untouched.
Status analyze_channels(ir::Graph& g, const std::set<std::string>& keep, ChannelAnalysis& out);

/// Indices kept along a tensor whose channels follow `map`, given each group's keep mask;
/// with `expand_spatial` each channel expands to its `spatial` features.
std::vector<int64_t> kept_indices(const ChannelMap& map, const std::vector<std::vector<bool>>& keep,
                                  bool expand_spatial = false);

}  // namespace joule::prune
