// Shapes of joule.StridedMatMul (runtime/ops/strided_matmul_ops.cpp), shared by its shape inference,
// its reference kernel (kernels/ref/strided_matmul.cpp) and its fast kernel (kernels/cpu/strided_matmul_f32.cpp).
#pragma once

#include <string>
#include <vector>

#include "joule/tensor.h"
#include "runtime/ir/graph.h"

namespace joule::ops {

struct StridedMatMulShapes {
  std::vector<int64_t> perm_a, perm_b, perm_y;  // identity where the attribute is absent
  Shape a, b;      // A' = A transposed by perm_a, B' likewise
  Shape batch;     // broadcast batch dims of A' and B'
  Shape z;         // batch + [M, N]: the product before perm_y
};

/// Validates the node's perm_a / perm_b / perm_y against A's and B's shapes and computes the shapes
/// above; false with `err` set when they do not fit.
bool strided_matmul_shapes(const ir::Node& node, const Shape& a, const Shape& b, StridedMatMulShapes& s, std::string& err);

/// Y's shape (C, when given, must broadcast to Z's shape without growing it).
bool strided_matmul_output_shape(const ir::Node& node, const Shape& a, const Shape& b, const Shape* c, Shape& y,
                                 std::string& err);

}  // namespace joule::ops
