// Conversion between onnx::TensorProto and joule::Tensor (internal to onnx_import/).
#pragma once

#include <string>

#include "joule/status.h"
#include "joule/tensor.h"
#include "joule_onnx.pb.h"

namespace onnx = ::joule_onnx;

namespace joule::onnx_import {

/// Converts a TensorProto; `model_dir` resolves external data (empty: refused).
/// `what` names the tensor's origin for error messages (file and tensor name).
Status tensor_from_proto(const onnx::TensorProto& p, const std::string& model_dir, uint64_t max_bytes,
                         const std::string& what, Tensor& out);
/// Fills a TensorProto with raw_data (or external data written by the caller).
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto& p);

}  // namespace joule::onnx_import
