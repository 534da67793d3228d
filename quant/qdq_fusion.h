// Load-time fusion of quantized patterns into joule's integer ops (run by Session before constant
// folding, which would otherwise turn DequantizeLinear(constant weight) into float weights).
#pragma once

#include "runtime/ir/graph.h"

namespace joule::quant {

/// Rewrites, where every scale / zero point is a constant and the shapes fit:
///   DQ(x 8-bit) -> Conv|Gemm|MatMul(DQ(w 8-bit const, per tensor or per output channel),
///                  [DQ(bias int32 const, scale x_scale*w_scale)]) -> [Relu|Clip] -> Q(y 8-bit)
///       => joule.QConv / joule.QGemm (the activation becomes the integer clamp qmin/qmax)
///   QLinearConv / QLinearMatMul with constant weights => joule.QConv / joule.QGemm
///   joule.QConv|QGemm -> DQ -> Relu|Clip -> Q  => the same node with a 256-entry "lut" attribute (exact:
///       the table holds what the reference DQ, activation and Q kernels give for each of the 256 inputs)
///   DQ(a 8-bit) + DQ(b 8-bit) -> Add [-> Relu|Clip] -> Q(y 8-bit), a and b of one static shape, per tensor
///       => joule.QAdd (integer inputs, float multipliers a_scale / y_scale and b_scale / y_scale, within one
///          step of the float graph; the activation becomes qmin/qmax)
///   DynamicQuantizeLinear -> MatMulInteger(W const 2-D) -> Cast(float) -> Mul(a_scale * w_scale) [-> Add(bias)]
///       => joule.DynQMatMul
/// The fused static ops compute QLinearConv's integer semantics (int32 sums, float multiplier,
/// round half to even), so they match the unfused float graph to within one quantization step;
/// joule.DynQMatMul repeats the float epilogue of the chain it replaces and matches it bit for bit.
/// Nodes whose DequantizeLinear/QuantizeLinear outputs are also read elsewhere are left as they are.
/// `fused` (optional) receives the number of rewrites.
Status fuse_qdq(ir::Graph& g, int* fused = nullptr);

}  // namespace joule::quant
