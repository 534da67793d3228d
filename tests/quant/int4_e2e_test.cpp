// INT4 end to end on a small transformer-style MLP block (X[1,17,64] -> MatMul 64x256 + bias -> Relu ->
// MatMul 256x64 + bias -> + X): the `quantize --int4` CLI with RTN and GPTQ on calibration samples with
// correlated channels, output cosine against FP32, weight bytes, and ONNX Runtime agreement on the
// MatMulNBits file (skipped when the ORT peer or the CLI binary is missing).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"
#include "runtime/ir/graph.h"

namespace fs = std::filesystem;
using namespace joule;

namespace {

const std::string kWork = std::string(JOULE_BINARY_DIR) + "/int4_e2e_" + std::to_string(::getpid());

int sh(const std::string& cmd, std::string& out) {
  std::string log = kWork + "/cmd.log";
  int rc = std::system((cmd + " > '" + log + "' 2>&1").c_str());
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string quantize_bin() {
  const char* b = std::getenv("JOULE_BIN");
  std::string dir = b ? b : std::string(JOULE_BINARY_DIR) + "/bin";
  return dir + "/quantize";
}

Tensor randn(const Shape& s, std::mt19937& rng, float sd) {
  Tensor t(DType::kF32, s);
  std::normal_distribution<float> d(0.0f, sd);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// Inputs with 6 shared factors per row and three large channels.
Tensor sample(std::mt19937& rng, const std::vector<float>& mix) {
  Tensor t(DType::kF32, {1, 17, 64});
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int64_t r = 0; r < 17; ++r) {
    float f[6];
    for (float& v : f) v = d(rng);
    for (int64_t c = 0; c < 64; ++c) {
      float v = 0.2f * d(rng);
      for (int j = 0; j < 6; ++j) v += f[j] * mix[static_cast<size_t>(c * 6 + j)];
      if (c == 3 || c == 30 || c == 61) v *= 8.0f;
      t.data<float>()[r * 64 + c] = v;
    }
  }
  return t;
}

void write_model(const std::string& path, std::mt19937& rng) {
  ir::Graph g;
  g.opset_imports[""] = 17;
  ir::Value* x = g.add_value("x");
  x->desc = ir::TensorDesc::known(DType::kF32, {1, 17, 64});
  g.inputs.push_back(x);
  auto node = [&](const char* op, std::vector<ir::Value*> in, const char* out) {
    ir::Value* v = g.add_value(out);
    g.add_node(op, in, {v}, std::string(out) + "_node")->opset = 17;
    return v;
  };
  ir::Value* h = node("MatMul", {x, g.add_constant("w1", randn({64, 256}, rng, 0.1f))}, "h");
  h = node("Add", {h, g.add_constant("b1", randn({256}, rng, 0.1f))}, "hb");
  h = node("Relu", {h}, "hr");
  ir::Value* y = node("MatMul", {h, g.add_constant("w2", randn({256, 64}, rng, 0.1f))}, "y");
  y = node("Add", {y, g.add_constant("b2", randn({64}, rng, 0.1f))}, "yb");
  y = node("Add", {y, x}, "out");
  g.outputs.push_back(y);
  ASSERT_TRUE(onnx_import::export_model(g, path).is_ok());
}

double cosine(const Tensor& a, const Tensor& b) {
  double d = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    d += double(a.data<float>()[i]) * b.data<float>()[i];
    na += double(a.data<float>()[i]) * a.data<float>()[i];
    nb += double(b.data<float>()[i]) * b.data<float>()[i];
  }
  return d / std::sqrt(na * nb);
}

}  // namespace

TEST(Int4E2E, QuantizeCliGptqAndOrtAgreement) {
  if (!fs::exists(quantize_bin())) GTEST_SKIP() << "quantize CLI not built at " << quantize_bin();
  fs::create_directories(kWork);
  std::mt19937 rng(5);
  const std::string model = kWork + "/mlp.onnx";
  write_model(model, rng);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> mix(64 * 6);
  for (auto& v : mix) v = d(rng);
  for (int i = 0; i < 12; ++i) {
    std::string dir = kWork + (i < 8 ? "/calib/" : "/eval/") + std::to_string(i);
    fs::create_directories(dir);
    ASSERT_TRUE(onnx_import::save_tensor_pb(sample(rng, mix), "x", dir + "/input_0.pb").is_ok());
  }
  std::string out;
  std::map<std::string, double> cos;
  for (std::string method : {"rtn", "gptq"}) {
    const std::string q = kWork + "/mlp_" + method + ".onnx";
    int rc = sh("'" + quantize_bin() + "' '" + model + "' -o '" + q + "' --int4 --method " + method + " --calib '" + kWork +
                    "/calib' --accuracy-level 0",
                out);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("2 of 2 MatMul/Gemm nodes"), std::string::npos) << out;
    auto pos = out.find("INT4 layer weight bytes: ");
    ASSERT_NE(pos, std::string::npos) << out;
    long long before = 0, after = 0;
    ASSERT_EQ(std::sscanf(out.c_str() + pos, "INT4 layer weight bytes: %lld -> %lld", &before, &after), 2) << out;
    EXPECT_LE(double(after) / double(before), 0.16) << out;
    auto ref = Session::load(model);
    auto s4 = Session::load(q);
    double sum = 0;
    for (int i = 8; i < 12; ++i) {
      Tensor in;
      ASSERT_TRUE(onnx_import::load_tensor_pb(kWork + "/eval/" + std::to_string(i) + "/input_0.pb", in).is_ok());
      sum += cosine(ref->run(std::vector<Tensor>{in})[0], s4->run(std::vector<Tensor>{in})[0]);
    }
    cos[method] = sum / 4;
  }
  std::printf("[ int4 e2e ] cosine vs FP32 on held-out samples: rtn %.6f, gptq %.6f\n", cos["rtn"], cos["gptq"]);
  EXPECT_GE(cos["gptq"], 0.99);
  EXPECT_GE(cos["gptq"], cos["rtn"] - 1e-4);

  // Mixed precision: --max-drop keeps the worst layer out of INT4 when the budget is tiny.
  int rc = sh("'" + quantize_bin() + "' '" + model + "' -o '" + kWork + "/mlp_mixed.onnx' --int4 --method gptq --calib '" +
                  kWork + "/calib' --max-drop 0.0001",
              out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("kept by --max-drop"), std::string::npos) << out;

  // ONNX Runtime runs the MatMulNBits file and agrees with joule.
  if (!fs::exists(std::string(JOULE_SOURCE_DIR) + "/bench/peer/node_modules/onnxruntime-node")) {
    fs::remove_all(kWork);
    GTEST_SKIP() << "ORT peer not installed (bench/peer/install_ort.sh)";
  }
  for (std::string level : {"0", "4"}) {
    const std::string q = kWork + "/mlp_l" + level + ".onnx";
    ASSERT_EQ(sh("'" + quantize_bin() + "' '" + model + "' -o '" + q + "' --int4 --accuracy-level " + level, out), 0) << out;
    rc = sh("node '" + std::string(JOULE_SOURCE_DIR) + "/bench/peer/ort_run.js' '" + q + "' --inputs '" + kWork +
                "/eval/8' --outputs '" + kWork + "/ort_" + level + "' --threads 1",
            out);
    ASSERT_EQ(rc, 0) << out;
    Tensor ort, in;
    ASSERT_TRUE(onnx_import::load_tensor_pb(kWork + "/ort_" + level + "/output_0.pb", ort).is_ok());
    ASSERT_TRUE(onnx_import::load_tensor_pb(kWork + "/eval/8/input_0.pb", in).is_ok());
    Tensor mine = Session::load(q)->run(std::vector<Tensor>{in})[0];
    ASSERT_EQ(mine.numel(), ort.numel());
    double worst = 0, scale = 0;
    for (int64_t k = 0; k < ort.numel(); ++k) {
      worst = std::max(worst, std::fabs(double(mine.data<float>()[k]) - ort.data<float>()[k]));
      scale = std::max(scale, std::fabs(double(ort.data<float>()[k])));
    }
    // Level 0: float math both sides. Level 4: both quantize A per block to int8; rounding ties may differ.
    EXPECT_LE(worst, (level == "0" ? 1e-5 : 2e-3) * scale) << "accuracy_level " << level;
    std::printf("[ int4 e2e ] accuracy_level %s: max |joule - ORT| %.3g (max |y| %.3g)\n", level.c_str(), worst, scale);
  }
  fs::remove_all(kWork);
}
