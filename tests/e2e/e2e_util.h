// Helpers shared by the end-to-end tests: loading backend-test folders, running joule and the ORT peer,
// and comparing float outputs against a float64 reference.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "joule/tensor.h"

namespace joule::e2e {

// Folders fixed at configure time (see the e2e section of tests/CMakeLists.txt).
extern const char* const kSourceDir;
extern const char* const kBinaryDir;
extern const char* const kE2eModelsDir;
extern const char* const kDemoDir;

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// One test_data_set_0: inputs by name, PyTorch float32 outputs, PyTorch float64 outputs.
struct TestCase {
  NamedTensors inputs;
  std::vector<Tensor> ref32;
  std::vector<Tensor> ref64;
};

/// False (with the reason) when the model generator could not run (no torch) or has not run.
bool models_available(std::string& why);
/// False (with the reason) when bench/peer/node_modules/onnxruntime-node or node is missing.
bool ort_peer_available(std::string& why);

/// Reads model_dir/<set>. Returns an error message, empty on success.
std::string load_case(const std::string& model_dir, TestCase& out, const std::string& set = "test_data_set_0");
/// Loads `model` in a fresh Session with `threads` intra-op threads and runs it once.
std::string run_joule(const std::string& model, const NamedTensors& inputs, int threads, std::vector<Tensor>& outs);
/// Runs bench/peer/ort_run.js on the inputs in `inputs_dir`, reading back `n_outputs` outputs.
std::string run_ort_peer(const std::string& model, const std::string& inputs_dir, const std::string& out_dir, size_t n_outputs,
                         std::vector<Tensor>& outs);

/// How far a float result is from a reference.
struct Comparison {
  std::string mismatch;       // non-empty when shapes/dtypes make the comparison impossible
  double max_abs_err = 0;     // max |got - ref|
  double ref_max_abs = 0;     // max |ref|
  double cosine = 1;          // cosine similarity of the flattened tensors
  int64_t worst_index = -1;
  double got_at_worst = 0, ref_at_worst = 0;
  bool nonfinite = false;     // got has NaN/Inf where ref does not

  /// max_abs_err <= rel * max(1, ref_max_abs) and cosine >= min_cosine.
  bool ok(double rel = 1e-4, double min_cosine = 0.99999) const;
  std::string summary() const;
};

Comparison compare_to_reference(const Tensor& got, const Tensor& ref);
/// Any numeric tensor converted to float64.
Tensor to_double(const Tensor& t);
/// Index of the first element whose bytes differ, -1 when identical.
int64_t first_bitwise_difference(const Tensor& a, const Tensor& b);
/// Copy of elements [offset, offset + n) of the flattened tensor, as a 1-D tensor.
Tensor slice_flat(const Tensor& t, int64_t offset, int64_t n);
/// Whole file as text ("" if unreadable).
std::string read_text(const std::string& path);

}  // namespace joule::e2e
