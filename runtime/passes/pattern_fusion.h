// Pattern fusions that turn the decomposed forms exporters write back into single ONNX ops
// (runtime/passes/gelu_fusion.cpp, layernorm_fusion.cpp), run by fuse_operators before the
// Conv/Gemm/MatMul fusions. The fused ops have reference kernels, so they run at every ISA.
#pragma once

#include <set>
#include <vector>

#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"

namespace joule::passes {

/// Rewrites the GELU subgraphs PyTorch exports into one ai.onnx Gelu (opset 20 semantics):
///   erf form:  0.5 * x * (1 + Erf(x / sqrt 2))   (Div by sqrt 2 or Mul by 1/sqrt 2; the 0.5 applied first or last)
///   tanh form: 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   (x^3 as Pow(x, 3) or x * (x * x))
///              -> Gelu(approximate = "tanh").
/// Only when every intermediate value has the pattern as its single reader (not a graph output).
/// `fused` is increased by the number of patterns rewritten.
Status fuse_gelu_patterns(ir::Graph& g, int& fused);

/// Rewrites the LayerNorm subgraph of PyTorch exports at opsets below 17
///   m = ReduceMean(x, last axis); d = x - m; v = ReduceMean(d^2 or d*d, last axis);
///   y = d / Sqrt(v + eps) [* gamma] [+ beta]
/// into LayerNormalization(x, gamma, beta, axis = -1, epsilon = eps) (gamma = ones when absent).
/// `fused` is increased by the number of patterns rewritten.
Status fuse_layernorm_patterns(ir::Graph& g, int& fused);

/// Rewrites MatMul(A, B) + Add(bias) into joule.MatMulBias(A, B, bias) (matmul_bias_fusion.cpp) when B is a
/// 2-D f32 constant, the Add is the MatMul's only reader and bias is a constant of N
/// elements broadcast along the last axis, and an optimized kernel runs the fused node at `isa` (the
/// reference path keeps MatMul + Add). `fused` is increased by the number of pairs rewritten.
Status fuse_matmul_bias(ir::Graph& g, Isa isa, int& fused);

/// Folds into a MatMul (transpose_matmul_fusion.cpp) the Transposes feeding it, a following Mul/Div by a
/// scalar constant, Add of a tensor broadcast to its shape and Transpose keeping the last axis, as one
/// joule.StridedMatMul (attention's Q K^T / sqrt(d) + mask and P V), when an optimized kernel runs it at
/// `isa`. `fused` is increased by the number of MatMuls rewritten.
Status fuse_transpose_matmul(ir::Graph& g, Isa isa, int& fused);

/// Single-reader queries shared by the pattern fusions.
class ReaderIndex {
 public:
  explicit ReaderIndex(const ir::Graph& g);
  /// The node that is `v`'s only reader, or null when it has several, is read by a subgraph or is a graph output.
  ir::Node* only_reader(const ir::Value* v) const;
  /// True when `v` has no reader outside `allowed` and is neither a graph output nor read by a subgraph.
  bool read_only_by(const ir::Value* v, const std::vector<const ir::Node*>& allowed) const;
  /// Distinct readers of `v`; empty when it is a graph output or read by a subgraph.
  std::vector<ir::Node*> readers(const ir::Value* v) const;

 private:
  const ir::Graph& g_;
  std::vector<std::vector<ir::Node*>> uses_;
  std::set<const ir::Value*> pinned_;  // graph outputs and values read by subgraphs
};

/// The float value of a one-element f32 constant (any rank); false otherwise.
bool scalar_constant(const ir::Value* v, float& out);
/// True when `n` is the ai.onnx op `op` with a first output.
bool is_op(const ir::Node* n, const char* op);
/// For a binary node: the input that is not `known` (null when neither input is `known`).
ir::Value* other_input(const ir::Node* n, const ir::Value* known);

}  // namespace joule::passes
