// .npy parsing and sample-folder layout.
#include "onnx_import/sample_io.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "onnx_import/onnx_import.h"

namespace joule::onnx_import {

namespace fs = std::filesystem;

namespace {

bool npy_descr_to_dtype(const std::string& d, DType& out) {
  static const std::pair<const char*, DType> table[] = {
      {"<f4", DType::kF32}, {"<f8", DType::kF64}, {"<f2", DType::kF16}, {"|i1", DType::kI8}, {"|u1", DType::kU8},
      {"<i2", DType::kI16}, {"<u2", DType::kU16}, {"<i4", DType::kI32}, {"<u4", DType::kU32}, {"<i8", DType::kI64},
      {"<u8", DType::kU64}, {"|b1", DType::kBool}};
  for (auto& [s, t] : table)
    if (d == s) {
      out = t;
      return true;
    }
  return false;
}

const char* dtype_to_npy_descr(DType t) {
  switch (t) {
    case DType::kF32: return "<f4";
    case DType::kF64: return "<f8";
    case DType::kF16: return "<f2";
    case DType::kI8: return "|i1";
    case DType::kU8: return "|u1";
    case DType::kI16: return "<i2";
    case DType::kU16: return "<u2";
    case DType::kI32: return "<i4";
    case DType::kU32: return "<u4";
    case DType::kI64: return "<i8";
    case DType::kU64: return "<u8";
    case DType::kBool: return "|b1";
    default: return nullptr;
  }
}

}  // namespace

Status load_npy(const std::string& path, Tensor& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot open file");
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) return invalid_argument(path + ": not a .npy file");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint8_t b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    uint8_t b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  if (!in || hlen > (1u << 20)) return invalid_argument(path + ": bad .npy header");
  std::string header(hlen, '\0');
  in.read(header.data(), hlen);
  std::smatch m;
  std::string descr;
  if (std::regex_search(header, m, std::regex("'descr':\\s*'([^']*)'"))) descr = m[1];
  if (std::regex_search(header, m, std::regex("'fortran_order':\\s*True")))
    return unsupported(path + ": Fortran-order .npy arrays are not supported");
  DType dt;
  if (!npy_descr_to_dtype(descr, dt)) return unsupported(path + ": .npy dtype '" + descr + "' is not supported");
  Shape shape;
  if (std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) {
    std::string dims = m[1];
    std::regex num("[0-9]+");
    for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it)
      shape.push_back(std::stoll(it->str()));
  } else {
    return invalid_argument(path + ": .npy header has no shape");
  }
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d != 0 && n > (int64_t{1} << 40) / d) return resource_limit(path + ": .npy shape is absurdly large");
    n *= d;
  }
  auto pos = in.tellg();
  std::error_code ec;
  uint64_t fsize = fs::file_size(path, ec);
  size_t bytes = storage_bytes(dt, n);
  if (ec || fsize < static_cast<uint64_t>(pos) + bytes)
    return invalid_argument(path + ": .npy data is shorter than its shape " + shape_to_string(shape) + " needs");
  Tensor t(dt, shape);
  in.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(bytes));
  if (!in) return io_error(path + ": read failed");
  out = std::move(t);
  return Status::ok();
}

Status save_npy(const Tensor& t, const std::string& path) {
  const char* descr = dtype_to_npy_descr(t.dtype());
  if (!descr) return unsupported(path + ": cannot write " + std::string(dtype_name(t.dtype())) + " as .npy");
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += std::to_string(t.shape()[i]) + (t.shape().size() == 1 ? "," : i + 1 < t.shape().size() ? ", " : "");
  shape += ")";
  std::string header = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) return io_error(path + ": cannot open for writing");
  out.write("\x93NUMPY\x01\x00", 8);
  uint16_t hl = static_cast<uint16_t>(header.size());
  char hb[2] = {static_cast<char>(hl & 0xff), static_cast<char>(hl >> 8)};
  out.write(hb, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
  return out ? Status::ok() : io_error(path + ": write failed");
}

Status load_tensor_file(const std::string& path, Tensor& out, std::string* name) {
  if (path.size() > 4 && path.substr(path.size() - 4) == ".npy") {
    if (name) *name = fs::path(path).stem().string();
    return load_npy(path, out);
  }
  return load_tensor_pb(path, out, name);
}

Status load_sample_dir(const std::string& dir, std::vector<std::pair<std::string, Tensor>>& out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return io_error(dir + ": not a directory");
  out.clear();
  std::vector<std::pair<int, fs::path>> indexed;
  std::vector<fs::path> named_npy;
  std::regex input_re("input_([0-9]+)\\.(pb|npy)");
  for (auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::string fn = e.path().filename().string();
    std::smatch m;
    if (std::regex_match(fn, m, input_re)) indexed.push_back({std::stoi(m[1]), e.path()});
    else if (e.path().extension() == ".npy") named_npy.push_back(e.path());
  }
  if (!indexed.empty()) {
    std::sort(indexed.begin(), indexed.end());
    for (size_t i = 0; i < indexed.size(); ++i) {
      if (indexed[i].first != static_cast<int>(i))
        return invalid_argument(dir + ": input files are not numbered 0.." + std::to_string(indexed.size() - 1));
      Tensor t;
      std::string name;
      JOULE_RETURN_IF_ERROR(load_tensor_file(indexed[i].second.string(), t, &name));
      if (indexed[i].second.extension() == ".npy") name.clear();  // positional
      out.emplace_back(name, std::move(t));
    }
    return Status::ok();
  }
  std::sort(named_npy.begin(), named_npy.end());
  for (auto& p : named_npy) {
    Tensor t;
    JOULE_RETURN_IF_ERROR(load_npy(p.string(), t));
    out.emplace_back(p.stem().string(), std::move(t));
  }
  if (out.empty()) return invalid_argument(dir + ": no input_N.pb / input_N.npy / <name>.npy files");
  return Status::ok();
}

Status list_sample_dirs(const std::string& dir, std::vector<std::string>& out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return io_error(dir + ": not a directory");
  out.clear();
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory()) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  if (out.empty()) out.push_back(dir);
  return Status::ok();
}

}  // namespace joule::onnx_import
