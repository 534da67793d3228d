// TensorProto <-> Tensor, including typed fields, raw_data and external data files.
#include "onnx_import/tensor_proto.h"

#include <cstring>
#include <filesystem>
#include <fstream>

namespace joule::onnx_import {

namespace fs = std::filesystem;

namespace {

Status read_external(const onnx::TensorProto& p, const std::string& model_dir, size_t expected_bytes,
                     const std::string& what, void* dst) {
  std::string location;
  uint64_t offset = 0;
  int64_t length = -1;
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset" || kv.key() == "length") {
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(kv.value().c_str(), &end, 10);
      if (errno || !end || *end || v < 0) return invalid_model(what + ": external data " + kv.key() + " '" + kv.value() + "' is not a non-negative integer");
      if (kv.key() == "offset") offset = static_cast<uint64_t>(v);
      else length = v;
    }
  }
  if (location.empty()) return invalid_model(what + ": external data has no location");
  if (model_dir.empty()) return invalid_model(what + ": external data '" + location + "' cannot be resolved for a model loaded from memory");
  fs::path rel(location);
  if (rel.is_absolute()) return invalid_model(what + ": external data path '" + location + "' is absolute; it must be relative to the model's folder");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::path(model_dir), ec);
  if (ec) return io_error(what + ": cannot resolve model folder '" + model_dir + "'");
  fs::path full = fs::weakly_canonical(base / rel, ec);
  if (ec) return io_error(what + ": cannot resolve external data path '" + location + "'");
  auto [bend, fit] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (bend != base.end() || full == base)
    return invalid_model(what + ": external data path '" + location + "' leaves the model's folder");
  if (!fs::is_regular_file(full, ec)) return io_error(what + ": external data file '" + full.string() + "' does not exist or is not a regular file");
  uint64_t fsize = fs::file_size(full, ec);
  if (ec) return io_error(what + ": cannot stat external data file '" + full.string() + "'");
  if (length >= 0 && static_cast<uint64_t>(length) != expected_bytes)
    return invalid_model(what + ": external data length " + std::to_string(length) + " does not match the " + std::to_string(expected_bytes) + " bytes its shape and dtype need");
  if (offset > fsize || fsize - offset < expected_bytes)
    return invalid_model(what + ": external data file '" + full.string() + "' is too short (" + std::to_string(fsize) + " bytes, need " + std::to_string(expected_bytes) + " from offset " + std::to_string(offset) + ")");
  std::ifstream in(full, std::ios::binary);
  if (!in) return io_error(what + ": cannot open external data file '" + full.string() + "'");
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(static_cast<char*>(dst), static_cast<std::streamsize>(expected_bytes));
  if (!in) return io_error(what + ": failed reading external data file '" + full.string() + "'");
  return Status::ok();
}

template <class Dst, class Field>
Status copy_typed(const Field& f, int64_t n, const std::string& what, const char* field, Tensor& t) {
  if (static_cast<int64_t>(f.size()) != n)
    return invalid_model(what + ": " + field + " has " + std::to_string(f.size()) + " values but the shape needs " + std::to_string(n));
  Dst* d = t.data<Dst>();
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<Dst>(f.Get(static_cast<int>(i)));
  return Status::ok();
}

}  // namespace

Status tensor_from_proto(const onnx::TensorProto& p, const std::string& model_dir, uint64_t max_bytes,
                         const std::string& what_in, Tensor& out) {
  std::string what = what_in.empty() ? "tensor '" + p.name() + "'" : what_in;
  DType dt = dtype_from_onnx(p.data_type());
  if (dt == DType::kUndefined) return unsupported(what + ": data type " + std::to_string(p.data_type()) + " is not supported");
  if (dt == DType::kString) return unsupported(what + ": string tensors are not supported");
  Shape shape;
  int64_t n = 1;
  for (int64_t d : p.dims()) {
    if (d < 0) return invalid_model(what + ": negative dimension " + std::to_string(d));
    if (d != 0 && n > (int64_t{1} << 62) / d) return resource_limit(what + ": element count overflows");
    n *= d;
    shape.push_back(d);
  }
  uint64_t bytes = storage_bytes(dt, n);
  if (bytes > max_bytes)
    return resource_limit(what + ": " + std::to_string(bytes) + " bytes exceeds the limit of " + std::to_string(max_bytes));
  // Validate that the data is present before allocating, so hostile dims cannot force a huge allocation.
  bool external = p.data_location() == onnx::TensorProto::EXTERNAL;
  if (!external && p.has_raw_data()) {
    if (p.raw_data().size() != bytes)
      return invalid_model(what + ": raw_data has " + std::to_string(p.raw_data().size()) + " bytes but shape " + shape_to_string(shape) + " of " + std::string(dtype_name(dt)) + " needs " + std::to_string(bytes));
  } else if (!external && n > 0) {
    int64_t have = 0;
    switch (dt) {
      case DType::kF32: have = p.float_data_size(); break;
      case DType::kF64: have = p.double_data_size(); break;
      case DType::kI64: have = p.int64_data_size(); break;
      case DType::kU32: case DType::kU64: have = p.uint64_data_size(); break;
      case DType::kU4: case DType::kI4: have = p.int32_data_size() * 2; break;
      default: have = p.int32_data_size(); break;
    }
    if (have < n && !(dt == DType::kU4 || dt == DType::kI4))
      return invalid_model(what + ": holds " + std::to_string(have) + " values but shape " + shape_to_string(shape) + " needs " + std::to_string(n));
  }
  Tensor t(dt, shape);
  if (external) {
    JOULE_RETURN_IF_ERROR(read_external(p, model_dir, bytes, what, t.raw()));
  } else if (p.has_raw_data()) {
    if (bytes) std::memcpy(t.raw(), p.raw_data().data(), bytes);
  } else if (n > 0) {
    switch (dt) {
      case DType::kF32: JOULE_RETURN_IF_ERROR(copy_typed<float>(p.float_data(), n, what, "float_data", t)); break;
      case DType::kF64: JOULE_RETURN_IF_ERROR(copy_typed<double>(p.double_data(), n, what, "double_data", t)); break;
      case DType::kI64: JOULE_RETURN_IF_ERROR(copy_typed<int64_t>(p.int64_data(), n, what, "int64_data", t)); break;
      case DType::kU32: JOULE_RETURN_IF_ERROR(copy_typed<uint32_t>(p.uint64_data(), n, what, "uint64_data", t)); break;
      case DType::kU64: JOULE_RETURN_IF_ERROR(copy_typed<uint64_t>(p.uint64_data(), n, what, "uint64_data", t)); break;
      case DType::kI32: JOULE_RETURN_IF_ERROR(copy_typed<int32_t>(p.int32_data(), n, what, "int32_data", t)); break;
      case DType::kI16: JOULE_RETURN_IF_ERROR(copy_typed<int16_t>(p.int32_data(), n, what, "int32_data", t)); break;
      case DType::kU16: JOULE_RETURN_IF_ERROR(copy_typed<uint16_t>(p.int32_data(), n, what, "int32_data", t)); break;
      case DType::kI8: JOULE_RETURN_IF_ERROR(copy_typed<int8_t>(p.int32_data(), n, what, "int32_data", t)); break;
      case DType::kU8: JOULE_RETURN_IF_ERROR(copy_typed<uint8_t>(p.int32_data(), n, what, "int32_data", t)); break;
      case DType::kBool: JOULE_RETURN_IF_ERROR(copy_typed<bool>(p.int32_data(), n, what, "int32_data", t)); break;
      case DType::kF16: case DType::kBF16: JOULE_RETURN_IF_ERROR(copy_typed<uint16_t>(p.int32_data(), n, what, "int32_data", t)); break;
      case DType::kU4: case DType::kI4: {
        // int32_data holds one packed byte (two nibbles) per entry.
        int64_t nbytes = static_cast<int64_t>(bytes);
        if (p.int32_data_size() < nbytes) return invalid_model(what + ": int32_data too short for packed 4-bit data");
        for (int64_t i = 0; i < nbytes; ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(p.int32_data(static_cast<int>(i)));
        break;
      }
      default: return unsupported(what + ": data type " + std::string(dtype_name(dt)) + " in typed fields");
    }
  }
  out = std::move(t);
  return Status::ok();
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto& p) {
  p.set_name(name);
  p.set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p.add_dims(d);
  p.set_raw_data(t.raw(), t.nbytes());
}

}  // namespace joule::onnx_import
