// Einsum equation parsing shared by Einsum's shape inference, its reference kernel and the cost model.
//
// An equation such as "bhid,bhjd->bhij" or "...ii->...i" is resolved against concrete operand
// shapes into a list of labels (one per distinct letter, plus one per broadcast ellipsis dim),
// each with a size. Every operand axis and every output axis names one label; a label that
// appears twice in one operand selects a diagonal. Labels absent from the output are summed over.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"

namespace joule::ops {

struct EinsumPlan {
  std::vector<int64_t> label_size;               // size of each label
  std::vector<std::vector<int>> operand_labels;  // per operand: label of each axis
  std::vector<int> output_labels;                // label of each output axis
  std::vector<int> summed_labels;                // labels not in the output (contracted)
  Shape output_shape;
};

/// Resolves `equation` against the operand shapes. Errors (returned as invalid_model with a
/// message saying what is wrong) cover bad syntax, operand count or rank mismatch, label size
/// conflicts and labels repeated in the output.
Status plan_einsum(const std::string& equation, const std::vector<Shape>& shapes, EinsumPlan& plan);

}  // namespace joule::ops
