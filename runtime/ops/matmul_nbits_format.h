// com.microsoft MatMulNBits (ONNX Runtime contrib op), the block-wise INT4 weight format joule writes and runs.
//
//   Y[..., N] = A[..., K] x dequant(B)^T (+ bias[N])
//   inputs: A (f32|f16), B u8 [N][k_blocks][block_size/2], scales (type of A) [N * k_blocks],
//           zero_points? (u8 packed [N][ceil(k_blocks/2)], or type of A [N * k_blocks]),
//           g_idx? (i32 [K], block of each k; deprecated), bias? (type of A) [N]
//   attributes: K, N, bits (4), block_size (power of 2, >= 16), accuracy_level (a hint, ignored)
//   dequant(B)[n][k] = (q[n][k] - zp[n][b]) * scale[n][b], b = k / block_size (or g_idx[k]),
//   q = nibble k % 2 (low nibble first) of byte B[n][b][(k % block_size) / 2]; zp = 8 when absent.
// k_blocks = ceil(K / block_size); the codes of the last block past K are padding (ignored).
#pragma once

#include <cstdint>
#include <string>

#include "joule/status.h"
#include "joule/tensor.h"
#include "runtime/ir/graph.h"

namespace joule::ops {

/// Geometry of one MatMulNBits node, read from its attributes.
struct MatMulNBitsShape {
  int64_t k = 0, n = 0, bits = 4, block = 32;
  int64_t k_blocks = 0;  // ceil(K / block)
  int64_t blob = 0;      // bytes per block: block * bits / 8
  int64_t zp_row = 0;    // bytes per row of packed u8 zero points: ceil(k_blocks * bits / 8)

  /// Reads and checks K, N, bits and block_size; the error names the node.
  static Status from_node(const ir::Node& n, MatMulNBitsShape& out) {
    out.k = n.attr_int("K", -1);
    out.n = n.attr_int("N", -1);
    out.bits = n.attr_int("bits", 4);
    out.block = n.attr_int("block_size", -1);
    if (out.k <= 0 || out.n <= 0) return invalid_model(n.label() + ": attributes K and N must be positive");
    if (out.bits != 4)
      return unsupported(n.label() + ": bits=" + std::to_string(out.bits) + " (joule runs 4-bit MatMulNBits only)");
    if (out.block < 16 || (out.block & (out.block - 1)) != 0)
      return invalid_model(n.label() + ": block_size must be a power of 2 >= 16, got " + std::to_string(out.block));
    out.k_blocks = (out.k + out.block - 1) / out.block;
    out.blob = out.block * out.bits / 8;
    out.zp_row = (out.k_blocks * out.bits + 7) / 8;
    return Status::ok();
  }
};

/// The 4-bit code of element (n, k) of packed B (no g_idx reordering: codes are stored in k order).
inline uint8_t nbits_code(const uint8_t* b, const MatMulNBitsShape& s, int64_t n, int64_t k) {
  uint8_t byte = b[(n * s.k_blocks + k / s.block) * s.blob + (k % s.block) / 2];
  return (k & 1) ? static_cast<uint8_t>(byte >> 4) : static_cast<uint8_t>(byte & 15);
}

/// The zero point of block `blk` of row n from packed u8 zero points.
inline uint8_t nbits_packed_zero_point(const uint8_t* zp, const MatMulNBitsShape& s, int64_t n, int64_t blk) {
  uint8_t byte = zp[n * s.zp_row + blk / 2];
  return (blk & 1) ? static_cast<uint8_t>(byte >> 4) : static_cast<uint8_t>(byte & 15);
}

}  // namespace joule::ops
