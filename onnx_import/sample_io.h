// Reading and writing sample folders: input_0.pb ... (ONNX TensorProto) or .npy files.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"

namespace joule::onnx_import {

/// Reads a .npy file (little-endian numeric dtypes and bool, C order).
Status load_npy(const std::string& path, Tensor& out);
/// Writes a .npy file (format version 1.0).
Status save_npy(const Tensor& t, const std::string& path);
/// Reads a tensor from .pb or .npy by extension.
Status load_tensor_file(const std::string& path, Tensor& out, std::string* name = nullptr);

/// Reads one sample folder: input_0.pb, input_1.pb ... (or input_0.npy ...) in index order, or
/// otherwise every *.npy named after a graph input. Returns (name from file or "", tensor) pairs.
Status load_sample_dir(const std::string& dir, std::vector<std::pair<std::string, Tensor>>& out);

/// Lists sample subfolders of `dir` in sorted order (a folder that itself holds inputs counts as one sample).
Status list_sample_dirs(const std::string& dir, std::vector<std::string>& out);

}  // namespace joule::onnx_import
