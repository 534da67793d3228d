// INT4 weight-only quantization: MatMul/Gemm constant weights in blocks along the reduction axis (K),
// written as com.microsoft MatMulNBits (runtime/ops/matmul_nbits_format.h). Rounding: RTN, or GPTQ
// (column-by-column error compensation with the layer Hessian H = X^T X of calibration activations).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "joule/status.h"
#include "quant/quantize.h"
#include "runtime/ir/graph.h"

namespace joule::quant {

enum class Int4Method { kRtn, kGptq };

struct Int4Options {
  int64_t block = 32;          // 32, 64, 128 or 256 weights per (scale, zero point)
  bool asym = false;           // per-block zero point (else symmetric: zero point 8, not stored)
  Int4Method method = Int4Method::kRtn;
  double damp = 0.01;          // GPTQ: H += damp * mean(diag(H)) * I
  int64_t accuracy_level = 0;  // MatMulNBits attribute: 4 lets kernels quantize activations to int8 (0 = float)
  // fp16 scales (and bias). ONNX Runtime binds MatMulNBits' scales and bias to A's type (1.30 rejects fp16
  // scales with f32 A), so each such node runs on fp16 A between Cast(to f16) and Cast(to f32).
  bool fp16_scales = false;
  std::set<std::string> keep_float;  // node keys (node_key) left as they are
};

/// Parses "rtn" / "gptq"; the error lists the choices.
Status parse_int4_method(const std::string& s, Int4Method& out);
const char* int4_method_name(Int4Method m);

/// Block-quantized W[N][K] in MatMulNBits layout.
struct Int4Weights {
  int64_t n = 0, k = 0, block = 32, k_blocks = 0;
  std::vector<uint8_t> codes;        // [N][k_blocks][block/2], low nibble first
  std::vector<float> scales;         // [N * k_blocks]
  std::vector<uint8_t> zero_points;  // packed [N][ceil(k_blocks/2)]; empty when symmetric
  /// Dequantized W[N][K] (for error measurement and tests).
  std::vector<float> dequantize() const;
};

/// X^T X (K x K, row-major, double) summed over every row of a layer's calibration input, and the row count.
struct LayerHessian {
  int64_t k = 0, rows = 0;
  std::vector<double> h;
};

/// Quantizes W[N][K] (row n = output channel). GPTQ needs `hessian` (else falls back to RTN).
Status quantize_int4_weights(const float* w, int64_t n, int64_t k, const Int4Options& opts, const LayerHessian* hessian,
                             Int4Weights& out);

/// Relative output error ||X (W - Wq)^T||_F / ||X W^T||_F over the calibration rows, from H = X^T X.
double int4_relative_error(const float* w, const Int4Weights& q, const LayerHessian& h);

/// MatMul (constant 2-D B) and Gemm (constant B, no transA) nodes INT4 can take, by node key; else the reason.
std::string int4_blocker(const ir::Graph& g, const ir::Node& n);
std::vector<std::string> int4_candidates(const ir::Graph& g);

/// Runs the model over the samples and accumulates each listed node's input Hessian.
Status collect_hessians(const std::string& model_path, const std::vector<std::string>& keys, const SampleSource& samples,
                        size_t limit, std::map<std::string, LayerHessian>& out,
                        const std::function<void(size_t, size_t)>& progress = {});

struct Int4LayerReport {
  std::string key, op;
  int64_t k = 0, n = 0;
  bool quantized = false;
  std::string reason;           // why it stayed float
  double err_rtn = -1, err = -1;  // relative output error of RTN and of the chosen method (-1: no calibration)
  int64_t float_bytes = 0, int4_bytes = 0;  // weight bytes before/after (codes + scales + zero points)
};

struct Int4Report {
  std::vector<Int4LayerReport> layers;
  size_t quantized() const;
  int64_t float_bytes() const;  // of the quantized layers
  int64_t int4_bytes() const;
};

/// Rewrites each candidate not in opts.keep_float into MatMulNBits. `hessians` (may be null or miss a key)
/// feeds GPTQ and the error report.
Status quantize_graph_int4(ir::Graph& g, const Int4Options& opts, const std::map<std::string, LayerHessian>* hessians,
                           Int4Report& report);

}  // namespace joule::quant
