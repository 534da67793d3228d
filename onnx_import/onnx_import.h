// ONNX file import and export. Protobuf types never leave onnx_import/.
#pragma once

#include <cstddef>
#include <string>

#include "joule/status.h"
#include "joule/tensor.h"
#include "runtime/ir/graph.h"

namespace joule::onnx_import {

/// Limits that keep hostile files from causing unbounded work or allocation.
struct ImportLimits {
  uint64_t max_file_bytes = uint64_t{4} << 30;       // the .onnx file itself (protobuf caps at 2 GiB)
  uint64_t max_tensor_bytes = uint64_t{16} << 30;    // one initializer (external data included)
  int max_subgraph_depth = 32;
};

/// Reads an .onnx file into `out`. External data files are resolved relative to the model's folder
/// and must stay inside it. Errors name the file and the node or tensor at fault.
Status import_model(const std::string& path, ir::Graph& out, const ImportLimits& limits = {});

/// Same as import_model from an in-memory buffer; `model_dir` is used for external data
/// (empty: external data is refused). `label` names the source in error messages.
Status import_model_from_bytes(const void* data, size_t size, const std::string& model_dir, const std::string& label,
                               ir::Graph& out, const ImportLimits& limits = {});

/// Reads one serialized TensorProto (.pb, the ONNX backend-test layout); `name` gets its name.
Status load_tensor_pb(const std::string& path, Tensor& out, std::string* name = nullptr);
/// Writes one tensor as a serialized TensorProto with the given name.
Status save_tensor_pb(const Tensor& t, const std::string& name, const std::string& path);

/// Options for writing a graph back to ONNX.
struct ExportOptions {
  /// Initializers at least this big go to `<model>.data` beside the model (0 = never).
  uint64_t external_data_threshold = 0;
};

/// Writes `g` as a standard ONNX model. Quantized tensors and 4-bit types keep their ONNX form.
Status export_model(const ir::Graph& g, const std::string& path, const ExportOptions& opts = {});

}  // namespace joule::onnx_import
