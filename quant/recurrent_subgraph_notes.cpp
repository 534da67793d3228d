// See recurrent_subgraph_notes.h.
#include "quant/recurrent_subgraph_notes.h"

#include <map>

namespace joule::quant {

namespace {

bool is_recurrent(const ir::Node& n) {
  return n.domain.empty() && (n.op_type == "LSTM" || n.op_type == "GRU" || n.op_type == "RNN");
}

// Counts the weight-carrying nodes (Conv/ConvTranspose/Gemm/MatMul and recurrent) in the bodies of
// `n`, at any depth, by op type.
void count_body_ops(const ir::Node& n, std::map<std::string, int>& counts) {
  auto visit = [&](const ir::Graph& body) {
    for (auto& m : body.nodes) {
      const std::string& op = m->op_type;
      if (op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul" || is_recurrent(*m)) ++counts[op];
      count_body_ops(*m, counts);
    }
  };
  for (auto& [name, a] : n.attrs) {
    if (a.kind == ir::Attribute::Kind::kGraph && a.g) visit(*a.g);
    if (a.kind == ir::Attribute::Kind::kGraphs)
      for (auto& g : a.graphs)
        if (g) visit(*g);
  }
}

}  // namespace

std::vector<std::string> recurrent_and_subgraph_notes(const ir::Graph& g, bool pruning) {
  std::vector<std::string> out;
  const std::string kept = pruning ? "kept unpruned" : "kept float";
  for (auto& n : g.nodes) {
    if (is_recurrent(*n)) {
      out.push_back(n->label() + ": recurrent weights (W, R, B) " + kept + " (" +
                    (pruning ? "structured pruning does not support recurrent layers; the channels feeding it are left alone"
                             : "recurrent layers are not quantized") + ")");
      continue;
    }
    if (!n->domain.empty() || (n->op_type != "If" && n->op_type != "Loop" && n->op_type != "Scan")) continue;
    std::map<std::string, int> counts;
    count_body_ops(*n, counts);
    std::string inside;
    for (auto& [op, c] : counts) inside += (inside.empty() ? "" : ", ") + std::to_string(c) + " " + op;
    out.push_back(n->label() + ": subgraph bod" + (n->op_type == "If" ? "ies" : "y") + " " + kept +
                  (inside.empty() ? "" : " (" + inside + " inside)") +
                  (pruning ? "; values the bodies read from the outer scope keep all their channels"
                           : "; bodies are not quantized"));
  }
  return out;
}

}  // namespace joule::quant
