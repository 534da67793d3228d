// The encoder e2e models after fusion (runtime/passes/pattern_fusion.h): the decomposed GELU and LayerNorm
// subgraphs torch exports at opsets 11 and 13 become single Gelu / LayerNormalization nodes, and MatMul +
// bias becomes joule.MatMulBias where an optimized kernel runs it. Their outputs against PyTorch float64
// and at 1 vs 2 threads are checked by E2E.* (e2e_test.cpp) on the same fused sessions.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "joule/session.h"
#include "runtime/cpu_features.h"
#include "tests/e2e/e2e_util.h"

namespace fs = std::filesystem;
using namespace joule;
using namespace joule::e2e;

namespace {
int count_op(const SessionStats& s, const std::string& op) {
  int n = 0;
  for (auto& [label, kernel] : s.kernel_for_node) n += label.rfind(op + " '", 0) == 0;
  return n;
}
}  // namespace

TEST(FusedEncoder, MiniLmPatternsAreFused) {
  std::string why;
  if (!models_available(why)) GTEST_SKIP() << why;
  // make_e2e_models.py's MiniLM: 2 layers, so 2 GELUs and 1 + 2 x 2 LayerNorms; 6 Linear layers a layer + pooler.
  for (const char* name : {"minilm_op11", "minilm_op13", "minilm_op17"}) {
    std::string path = (fs::path(kE2eModelsDir) / name / "model.onnx").string();
    ASSERT_TRUE(fs::exists(path)) << path;
    auto sess = Session::load(path);
    const SessionStats& s = sess->stats();
    EXPECT_EQ(count_op(s, "Gelu"), 2) << name;
    EXPECT_EQ(count_op(s, "LayerNormalization"), 5) << name;
    EXPECT_EQ(count_op(s, "Erf"), 0) << name;
    EXPECT_EQ(count_op(s, "ReduceMean"), 0) << name;
    if (max_isa() >= Isa::kAvx2) EXPECT_GE(count_op(s, "joule.MatMulBias"), 12) << name;
    SessionOptions plain;
    plain.optimize = false;
    auto unfused = Session::load(path, plain);
    std::cout << "[ fused ] " << name << ": " << unfused->stats().node_count << " nodes -> " << s.node_count << "\n";
    EXPECT_LT(s.node_count, unfused->stats().node_count);
  }
}
