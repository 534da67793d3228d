// Pruning on exported models (tests/models/make_prune_models.py, ctest fixture prune_models):
// the trained digits CNN keeps its held-out accuracy within 1 point at 30% with reconstruction;
// the ResNet-style model loses >= 40% of its MACs at 30% channels and is valid ONNX that
// onnx.checker and (when installed) ONNX Runtime accept.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "onnx_import/onnx_import.h"
#include "onnx_import/sample_io.h"
#include "prune/prune.h"

namespace fs = std::filesystem;
using namespace joule;

namespace {

const std::string kDir = JOULE_PRUNE_MODELS_DIR;

std::vector<prune::Sample> load_samples(const std::string& dir, size_t max = 100000) {
  std::vector<std::string> dirs;
  EXPECT_TRUE(onnx_import::list_sample_dirs(dir, dirs).is_ok());
  std::vector<prune::Sample> out;
  for (auto& d : dirs) {
    if (out.size() >= max) break;
    prune::Sample s;
    EXPECT_TRUE(onnx_import::load_sample_dir(d, s).is_ok());
    out.push_back(s);
  }
  return out;
}

std::vector<int64_t> load_labels(const std::string& path) {
  std::ifstream f(path);
  std::vector<int64_t> v;
  int64_t x;
  while (f >> x) v.push_back(x);
  return v;
}

bool have(const std::string& path) { return fs::exists(path); }

}  // namespace

TEST(PruneModels, DigitsAccuracyWithReconstruction) {
  std::string d = kDir + "/digits";
  if (!have(d + "/model.onnx")) GTEST_SKIP() << "no " << d << "/model.onnx (make_prune_models.py needs torch+sklearn)";
  auto calib = load_samples(d + "/calib");
  auto test = load_samples(d + "/test");
  auto test_labels = load_labels(d + "/test_labels.txt");
  ASSERT_EQ(test.size(), test_labels.size());
  ir::Graph original;
  ASSERT_TRUE(onnx_import::import_model(d + "/model.onnx", original).is_ok());
  double acc[2];
  prune::Fidelity base;
  for (int rec = 0; rec < 2; ++rec) {
    ir::Graph g = prune::clone_graph(original);
    prune::PruneOptions o;
    o.ratio = 0.3;
    o.reconstruct = rec == 1;
    prune::PruneReport r;
    ASSERT_TRUE(prune::prune_graph(g, o, calib, {}, r).is_ok());
    EXPECT_LT(r.macs_after, r.macs_before);
    prune::Fidelity f;
    ASSERT_TRUE(prune::measure_fidelity(original, g, test, test_labels, f, &base).is_ok());
    acc[rec] = f.accuracy;
  }
  std::printf("digits held-out accuracy: unpruned %.2f%%, pruned 30%% %.2f%%, pruned+reconstructed %.2f%%\n",
              base.accuracy * 100, acc[0] * 100, acc[1] * 100);
  EXPECT_GE(acc[1], base.accuracy - 0.01);
}

TEST(PruneModels, ResNetResidualMacsAndValidOnnx) {
  std::string d = kDir + "/resnet_mini";
  if (!have(d + "/model.onnx")) GTEST_SKIP() << "no " << d << "/model.onnx (make_prune_models.py needs torch)";
  ir::Graph g;
  ASSERT_TRUE(onnx_import::import_model(d + "/model.onnx", g).is_ok());
  auto calib = load_samples(d + "/samples", 4);
  prune::PruneOptions o;
  o.ratio = 0.3;
  o.reconstruct = true;
  prune::PruneReport r;
  ASSERT_TRUE(prune::prune_graph(g, o, calib, {}, r).is_ok());
  double kept = static_cast<double>(r.macs_after) / static_cast<double>(r.macs_before);
  std::printf("resnet_mini 30%%: MACs %lld -> %lld (%.1f%% kept), cosine %.4f -> %.4f\n", (long long)r.macs_before,
              (long long)r.macs_after, kept * 100, r.before_reconstruction.cosine, r.after_reconstruction.cosine);
  EXPECT_LE(kept, 0.60);
  EXPECT_GT(r.after_reconstruction.cosine, r.before_reconstruction.cosine);
  std::string out = (fs::temp_directory_path() / ("joule_prune_test_" + std::to_string(::getpid()) + ".onnx")).string();
  ASSERT_TRUE(onnx_import::export_model(g, out).is_ok());
  std::string py = "/usr/bin/python3 -c \"import onnx; onnx.checker.check_model(onnx.load('" + out + "'))\"";
  if (have("/usr/bin/python3") && std::system("/usr/bin/python3 -c 'import onnx' 2>/dev/null") == 0)
    EXPECT_EQ(std::system(py.c_str()), 0) << "onnx.checker rejected " << out;
  else
    std::printf("onnx.checker not run: /usr/bin/python3 with onnx not installed\n");
  std::string ort = std::string(JOULE_SOURCE_DIR) + "/bench/peer";
  if (have(ort + "/node_modules/onnxruntime-node") && std::system("node --version >/dev/null 2>&1") == 0) {
    std::string cmd = "node " + ort + "/ort_run.js " + out + " --inputs " + d + "/samples/sample_000 >/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "ONNX Runtime failed on " << out;
  } else {
    std::printf("ONNX Runtime check skipped: bench/peer/install_ort.sh has not been run\n");
  }
  fs::remove(out);
}
