// Operator fusion passes (runtime/passes/fusion.cpp), run by Session after constant folding.
#pragma once

#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"

namespace joule::passes {

/// Folds inference-mode BatchNormalization into a preceding Conv with constant weights
/// (W'[m] = W[m] * s[m], B'[m] = (B[m] - mean[m]) * s[m] + beta[m], s = scale / sqrt(var + eps)), then
/// fuses a Relu or constant-bound Clip that is the only reader of a Conv/Gemm/MatMul output into that
/// node as attributes "joule.activation" ("Relu" | "Clip"), "joule.clip_min", "joule.clip_max".
/// The activation is fused only when the kernel chosen for the fused node at `isa` is an optimized
/// one (the reference kernels ignore joule.* attributes, so nothing is fused at Isa::kScalar).
/// Contract: an optimized Conv/Gemm/MatMul kernel must apply joule.activation or reject it in accepts().
/// First, the pattern fusions of pattern_fusion.h run: GELU and LayerNorm subgraphs -> Gelu /
/// LayerNormalization, MatMul + bias Add -> joule.MatMulBias (which then takes activations like MatMul).
Status fuse_operators(ir::Graph& g, Isa isa);

}  // namespace joule::passes
