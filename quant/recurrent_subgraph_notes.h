// What quantization and pruning leave alone in recurrent and control-flow models, as summary lines:
// LSTM / GRU / RNN weights (W, R, B) stay float and unpruned, and If / Loop / Scan bodies are not
// rewritten (their Conv/Gemm/MatMul/recurrent nodes are counted). Shared by quant/ and prune/ so both
// summaries say the same thing.
#pragma once

#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace joule::quant {

/// One line per top-level recurrent or control-flow node of `g`. `pruning` selects the wording
/// ("kept unpruned" instead of "kept float").
std::vector<std::string> recurrent_and_subgraph_notes(const ir::Graph& g, bool pruning);

}  // namespace joule::quant
