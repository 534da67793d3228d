// libFuzzer entry point: arbitrary bytes -> ONNX import -> Session build (shape inference, constant
// folding with the reference kernels, kernel selection, memory planning). Every failure must come
// back as a Status; a crash, sanitizer report, hang or runaway allocation is a bug in joule.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  joule::onnx_import::ImportLimits limits;
  limits.max_tensor_bytes = uint64_t{64} << 20;  // keep well inside -rss_limit_mb
  limits.max_subgraph_depth = 8;
  joule::ir::Graph g;
  // No model folder: external data references are refused, so the fuzzer never reads files.
  joule::Status st = joule::onnx_import::import_model_from_bytes(data, size, "", "fuzz.onnx", g, limits);
  if (!st.is_ok()) return 0;
  joule::SessionOptions opts;
  opts.threads = 1;
  opts.max_tensor_bytes = uint64_t{64} << 20;
  std::unique_ptr<joule::Session> session;
  (void)joule::Session::create(std::move(g), opts, session);
  return 0;
}
