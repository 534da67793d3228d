// Folding of the Casts around fp16-scale MatMulNBits (runtime/passes/nbits_cast_fusion.cpp).
#pragma once

#include "runtime/ir/graph.h"

namespace joule::passes {

/// Cast(f32 -> f16) -> com.microsoft MatMulNBits (f16 A, scales, bias) -> Cast(f16 -> f32), the form
/// `quantize --int4 --scale-dtype fp16` writes because ONNX Runtime types the scales like A, becomes one
/// MatMulNBits on the f32 activations that reads the f16 scales / bias directly (joule's kernels convert them
/// when the weights are prepared): both Casts go, and A and Y are no longer rounded to f16. Only when each
/// intermediate value has the next node as its single reader. `fused` is increased by the number folded.
Status fold_nbits_f16_casts(ir::Graph& g, int& fused);

}  // namespace joule::passes
