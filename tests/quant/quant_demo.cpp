// Quantization end to end (ctest fixture demo_model / e2e_models): the `quantize` CLI on the digits
// CNN and on ResNet-18, accuracy/size targets, QDQ output re-imported by joule, checked by
// onnx.checker and run by ONNX Runtime 1.30 (skipped with the reason when a tool is missing).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"
#include "onnx_import/sample_io.h"

namespace fs = std::filesystem;

namespace {

const std::string kBin = JOULE_BINARY_DIR "/bin";
const std::string kDemo = JOULE_DEMO_DIR;
const std::string kE2e = JOULE_E2E_MODELS_DIR;
const std::string kWork = JOULE_BINARY_DIR "/quant_test";

std::string read_text(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs a shell command, capturing stdout+stderr; returns the exit code.
int sh(const std::string& cmd, std::string& out) {
  fs::create_directories(kWork);
  // One log per process: ctest runs the tests of this binary in parallel processes.
  std::string log = kWork + "/cmd_" + std::to_string(::getpid()) + ".log";
  int rc = std::system((cmd + " > '" + log + "' 2>&1").c_str());
  out = read_text(log);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool demo_available() { return fs::exists(kDemo + "/digits_cnn.onnx") && fs::exists(kDemo + "/labels.txt"); }

std::vector<int64_t> labels() {
  std::vector<int64_t> l;
  std::ifstream f(kDemo + "/labels.txt");
  int64_t x;
  while (f >> x) l.push_back(x);
  return l;
}

// Top-1 accuracy (percent) of `model` on the demo samples.
double accuracy(const std::string& model) {
  auto sess = joule::Session::load(model);
  std::vector<std::string> dirs;
  EXPECT_TRUE(joule::onnx_import::list_sample_dirs(kDemo + "/samples", dirs).is_ok());
  auto lab = labels();
  size_t hit = 0, n = std::min(dirs.size(), lab.size());
  for (size_t i = 0; i < n; ++i) {
    std::vector<std::pair<std::string, joule::Tensor>> in;
    EXPECT_TRUE(joule::onnx_import::load_sample_dir(dirs[i], in).is_ok());
    auto out = sess->run(std::vector<joule::Tensor>{in[0].second});
    const float* p = out[0].data<float>();
    int64_t best = 0;
    for (int64_t k = 1; k < out[0].numel(); ++k)
      if (p[k] > p[best]) best = k;
    hit += best == lab[i];
  }
  return 100.0 * static_cast<double>(hit) / static_cast<double>(n);
}

std::string quantize(const std::string& args) {
  std::string out;
  int rc = sh("'" + kBin + "/quantize' " + args, out);
  EXPECT_EQ(rc, 0) << out;
  return out;
}

TEST(QuantDemo, StaticInt8AccuracyWithinHalfPoint) {
  if (!demo_available()) GTEST_SKIP() << "demo model not generated (tests/models/make_demo_model.py)";
  for (std::string method : {"minmax", "entropy", "percentile", "mse"}) {
    std::string q = kWork + "/digits_" + method + ".onnx";
    std::string log = quantize("'" + kDemo + "/digits_cnn.onnx' -o '" + q + "' --calib '" + kDemo + "/samples' --method " + method);
    double fp = accuracy(kDemo + "/digits_cnn.onnx"), i8 = accuracy(q);
    std::cout << method << ": FP32 " << fp << "% INT8 " << i8 << "%\n";
    EXPECT_LE(std::fabs(fp - i8), 0.5) << method << "\n" << log;
    EXPECT_NE(log.find("3 of 3"), std::string::npos) << log;
  }
}

TEST(QuantDemo, RefusesStaticWithoutCalibration) {
  if (!demo_available()) GTEST_SKIP() << "demo model not generated";
  std::string out;
  int rc = sh("'" + kBin + "/quantize' '" + kDemo + "/digits_cnn.onnx' -o '" + kWork + "/never.onnx'", out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--calib"), std::string::npos) << out;
  EXPECT_NE(out.find("--dynamic"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(kWork + "/never.onnx"));
  // The same implementation behind `joule quantize`.
  rc = sh("'" + kBin + "/joule' quantize '" + kDemo + "/digits_cnn.onnx' -o '" + kWork + "/never.onnx'", out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--dynamic"), std::string::npos) << out;
}

TEST(QuantDemo, OnnxCheckerAcceptsQdq) {
  if (!demo_available()) GTEST_SKIP() << "demo model not generated";
  std::string q = kWork + "/digits_checker.onnx", out;
  quantize("'" + kDemo + "/digits_cnn.onnx' -o '" + q + "' --calib '" + kDemo + "/samples'");
  if (sh("/usr/bin/python3 -c 'import onnx'", out) != 0) GTEST_SKIP() << "python3-onnx missing: " << out;
  int rc = sh("/usr/bin/python3 -c \"import onnx, collections; m = onnx.load('" + q +
                  "'); onnx.checker.check_model(m, full_check=True); "
                  "print(sorted(collections.Counter(n.op_type for n in m.graph.node).items()))\"",
              out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("QuantizeLinear"), std::string::npos) << out;
}

// Joule and ORT run the same QDQ file; outputs agree within a few output quantization steps.
void compare_with_ort(const std::string& model, double atol) {
  std::string out;
  if (!fs::exists(std::string(JOULE_SOURCE_DIR) + "/bench/peer/node_modules/onnxruntime-node"))
    GTEST_SKIP() << "ORT peer not installed (bench/peer/install_ort.sh)";
  if (sh("node --version", out) != 0) GTEST_SKIP() << "node missing";
  auto sess = joule::Session::load(model);
  std::vector<std::string> dirs;
  ASSERT_TRUE(joule::onnx_import::list_sample_dirs(kDemo + "/samples", dirs).is_ok());
  for (size_t i = 0; i < dirs.size() && i < 5; ++i) {
    // One folder per model: ctest runs these tests in parallel.
    std::string od = kWork + "/ort_out_" + fs::path(model).stem().string();
    fs::remove_all(od);
    int rc = sh("node '" + std::string(JOULE_SOURCE_DIR) + "/bench/peer/ort_run.js' '" + model + "' --inputs '" + dirs[i] +
                    "' --outputs '" + od + "' --threads 1",
                out);
    ASSERT_EQ(rc, 0) << out;
    joule::Tensor ort;
    ASSERT_TRUE(joule::onnx_import::load_tensor_pb(od + "/output_0.pb", ort).is_ok());
    std::vector<std::pair<std::string, joule::Tensor>> in;
    ASSERT_TRUE(joule::onnx_import::load_sample_dir(dirs[i], in).is_ok());
    auto mine = sess->run(std::vector<joule::Tensor>{in[0].second});
    ASSERT_EQ(mine[0].numel(), ort.numel());
    double worst = 0;
    for (int64_t k = 0; k < ort.numel(); ++k)
      worst = std::max(worst, std::fabs(double(mine[0].data<float>()[k]) - double(ort.data<float>()[k])));
    EXPECT_LE(worst, atol) << dirs[i];
  }
}

// With 7-bit weights ORT's AVX2 u8 x s8 kernels cannot saturate, so ORT and joule agree to about one
// output quantization step (~0.17 here).
TEST(QuantDemo, OrtRunsJoulesStaticQdqAndAgrees) {
  if (!demo_available()) GTEST_SKIP() << "demo model not generated";
  std::string q = kWork + "/digits_ort.onnx";
  quantize("'" + kDemo + "/digits_cnn.onnx' -o '" + q + "' --calib '" + kDemo + "/samples' --reduce-range");
  compare_with_ort(q, 0.2);
}

// Full 8-bit weights: on CPUs without VNNI ORT's vpmaddubsw saturates int16 pair sums and drifts by
// several output steps (joule's reference stays exact), so only a loose bound holds there.
TEST(QuantDemo, OrtRunsJoulesDefaultQdq) {
  if (!demo_available()) GTEST_SKIP() << "demo model not generated";
  std::string q = kWork + "/digits_ort8.onnx";
  quantize("'" + kDemo + "/digits_cnn.onnx' -o '" + q + "' --calib '" + kDemo + "/samples'");
  compare_with_ort(q, 3.0);
}

// 7-bit weights again: ORT's AVX2 MatMulInteger saturates int16 pair sums with full 8-bit weights.
TEST(QuantDemo, DynamicRunsInJouleAndOrt) {
  if (!demo_available()) GTEST_SKIP() << "demo model not generated";
  std::string q = kWork + "/digits_dynamic.onnx";
  std::string log = quantize("'" + kDemo + "/digits_cnn.onnx' -o '" + q + "' --dynamic --reduce-range");
  EXPECT_NE(log.find("1 of 3"), std::string::npos) << log;  // the Gemm; Convs stay float
  double fp = accuracy(kDemo + "/digits_cnn.onnx"), i8 = accuracy(q);
  EXPECT_LE(std::fabs(fp - i8), 0.5);
  compare_with_ort(q, 1e-3);
}

TEST(QuantDemo, SensitivityTableAndMaxDrop) {
  if (!demo_available()) GTEST_SKIP() << "demo model not generated";
  std::string q = kWork + "/digits_maxdrop.onnx", rep = kWork + "/digits_report.txt";
  std::string log = quantize("'" + kDemo + "/digits_cnn.onnx' -o '" + q + "' --calib '" + kDemo +
                             "/samples' --max-drop 0 --labels '" + kDemo + "/labels.txt' --report '" + rep + "'");
  EXPECT_NE(log.find("per-layer sensitivity"), std::string::npos) << log;
  EXPECT_NE(read_text(rep).find("SQNR"), std::string::npos);
  EXPECT_LE(std::fabs(accuracy(kDemo + "/digits_cnn.onnx") - accuracy(q)), 1e-9) << log;
  // --keep-float by hand: the named node stays float.
  std::string first = log.substr(log.find("int8   ") + 7);
  first = first.substr(0, first.find(' '));
  log = quantize("'" + kDemo + "/digits_cnn.onnx' -o '" + q + "' --calib '" + kDemo + "/samples' --keep-float " + first);
  EXPECT_NE(log.find("2 of 3"), std::string::npos) << log;
}

TEST(QuantDemo, Resnet18SizeRatio) {
  std::string m = kE2e + "/resnet18/model.onnx", calib = kE2e + "/resnet18/test_data_set_0";
  if (!fs::exists(m) || !fs::exists(calib)) GTEST_SKIP() << "e2e models not generated (tests/models/make_e2e_models.py)";
  std::string q = kWork + "/resnet18_int8.onnx";
  std::string log = quantize("'" + m + "' -o '" + q + "' --calib '" + calib + "'");
  double ratio = double(fs::file_size(q)) / double(fs::file_size(m));
  std::cout << "resnet18 INT8/FP32 file size: " << ratio << "\n";
  EXPECT_LE(ratio, 0.27) << log;
  auto sess = joule::Session::load(q);  // re-imports and plans
  EXPECT_GT(sess->stats().node_count, 0u);
}

}  // namespace
