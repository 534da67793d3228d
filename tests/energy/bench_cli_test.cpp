// joule bench end to end on tiny models built here: table, JSON, CodeCarbon CSV and SVG come out,
// label accuracy is right, the greenest choice follows the rule, estimated energy is labelled.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "onnx_import/onnx_import.h"
#include "runtime/ir/graph.h"

namespace fs = std::filesystem;
using namespace joule;

namespace {

std::string joule_bin() {
  const char* env = std::getenv("JOULE_BIN");
  return std::string(env ? env : JOULE_BINARY_DIR "/bin") + "/joule";
}

struct Cli {
  int code = -1;
  std::string out, err;
};

Cli run(const std::string& args, const fs::path& dir) {
  fs::path o = dir / "stdout.txt", e = dir / "stderr.txt";
  std::string cmd = "'" + joule_bin() + "' bench " + args + " >'" + o.string() + "' 2>'" + e.string() + "'";
  int rc = std::system(cmd.c_str());
  Cli r;
  r.code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
  std::ifstream a(o), b(e);
  r.out.assign(std::istreambuf_iterator<char>(a), {});
  r.err.assign(std::istreambuf_iterator<char>(b), {});
  return r;
}

// logits[1,4] = x[1,6] @ W[6,4] (+ noise on W for a degraded variant).
void write_model(const std::string& path, float noise) {
  ir::Graph g;
  g.opset_imports[""] = 13;
  ir::Value* x = g.add_value("x");
  x->desc = {DType::kF32, {1, 6}, true};
  g.inputs.push_back(x);
  std::mt19937 rng(7), nrng(99);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> w(24);
  for (auto& v : w) v = d(rng) + noise * d(nrng);
  ir::Value* wv = g.add_constant("W", Tensor::from_vector<float>({6, 4}, w));
  ir::Value* y = g.add_value("logits");
  g.add_node("MatMul", {x, wv}, {y}, "mm");
  g.outputs.push_back(y);
  ASSERT_TRUE(onnx_import::export_model(g, path).is_ok());
}

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(joule_bin())) GTEST_SKIP() << joule_bin() << " is not built";
    dir = fs::path(JOULE_BINARY_DIR) / "test_out" / ("bench_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "samples");
    write_model((dir / "ref.onnx").string(), 0);
    fs::copy_file(dir / "ref.onnx", dir / "copy.onnx");
    write_model((dir / "noisy.onnx").string(), 3.0f);
    // 10 samples; labels = the reference's argmax except samples 0 and 1 (so accuracy is 80%).
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> d(-1, 1);
    std::mt19937 wr(7);
    std::vector<float> w(24);
    for (auto& v : w) v = d(wr);
    std::ofstream labels(dir / "labels.txt");
    for (int s = 0; s < 10; ++s) {
      std::vector<float> x(6);
      for (auto& v : x) v = d(rng);
      char name[32];
      std::snprintf(name, sizeof name, "sample_%03d", s);
      fs::create_directories(dir / "samples" / name);
      ASSERT_TRUE(onnx_import::save_tensor_pb(Tensor::from_vector<float>({1, 6}, x), "x",
                                              (dir / "samples" / name / "input_0.pb").string()).is_ok());
      int best = 0;
      float bv = -1e30f;
      for (int c = 0; c < 4; ++c) {
        float acc = 0;
        for (int k = 0; k < 6; ++k) acc += x[k] * w[k * 4 + c];
        if (acc > bv) bv = acc, best = c;
      }
      labels << (s < 2 ? (best + 1) % 4 : best) << "\n";
    }
  }
  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  std::string quick() const {
    return " --runs 5 --min-seconds 0.02 --repeats 2 --idle-seconds 0.05 --warmup 1 --cpu-watts 5 ";
  }
  std::string p(const char* f) const { return "'" + (dir / f).string() + "'"; }
  fs::path dir;
};

}  // namespace

TEST_F(BenchCli, TableJsonCsvPlot) {
  std::string common = p("ref.onnx") + " " + p("copy.onnx") + " " + p("noisy.onnx") + " --eval " + p("samples") +
                       " --labels " + p("labels.txt") + quick();
  Cli t = run(common + " --csv " + p("e.csv") + " --plot " + p("e.svg"), dir);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("mJ/inf"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("p50 ms"), std::string::npos);
  EXPECT_NE(t.out.find("verdict"), std::string::npos);
  EXPECT_EQ(t.err.find("\r"), std::string::npos);  // no progress bar when stderr is a file
  // CSV: CodeCarbon header and 3 rows.
  std::ifstream csv(dir / "e.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,"
                         "cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name",
                         0),
            0u);
  int rows = 0;
  while (std::getline(csv, line)) rows += !line.empty();
  EXPECT_EQ(rows, 3);
  std::ifstream svg(dir / "e.svg");
  std::string s((std::istreambuf_iterator<char>(svg)), {});
  EXPECT_NE(s.find("<svg"), std::string::npos);
  EXPECT_NE(s.find("Pareto"), std::string::npos);
  EXPECT_NE(s.find("</svg>"), std::string::npos);

  Cli j = run(common + " --json", dir);
  ASSERT_EQ(j.code, 0) << j.err;
  for (const char* field : {"\"latency_ms\"", "\"p50\"", "\"p90\"", "\"p99\"", "\"throughput_per_s\"", "\"avg_power_w\"",
                            "\"joules_per_inference\"", "\"ci95\"", "\"above_idle_mean\"", "\"mwh_per_1000\"",
                            "\"gco2e_per_1000\"", "\"peak_rss_bytes\"", "\"size_bytes\"", "\"top1_agreement\"",
                            "\"cosine\"", "\"max_abs_error\"", "\"mean_abs_error\"", "\"accuracy\"", "\"greenest\"",
                            "\"energy_source\"", "\"grid_intensity_source\""})
    EXPECT_NE(j.out.find(field), std::string::npos) << field;
  // Accuracy of the reference: 8 of 10 labels match its argmax.
  EXPECT_NE(j.out.find("\"accuracy\": 0.8,"), std::string::npos) << j.out;
  // Estimated energy (no counters in CI, and this machine has none) is labelled as such.
  if (j.out.find("\"measured\": false") != std::string::npos)
    EXPECT_NE(j.out.find("\"energy_source\": \"estimated: "), std::string::npos);
  // The noisy variant loses on accuracy; the greenest is one of the two identical models.
  auto noisy = j.out.find("\"name\": \"noisy.onnx\"");
  ASSERT_NE(noisy, std::string::npos);
  std::string tail = j.out.substr(noisy);
  if (tail.find("\"accuracy_drop_pp\": 0,") == std::string::npos) {
    EXPECT_NE(tail.find("\"acceptable\": false"), std::string::npos) << tail;
    EXPECT_NE(tail.find("accuracy drop"), std::string::npos) << tail;
  }
  EXPECT_TRUE(j.out.find("\"greenest\": \"ref.onnx\"") != std::string::npos ||
              j.out.find("\"greenest\": \"copy.onnx\"") != std::string::npos);
}

TEST_F(BenchCli, RandomInputsWarnAndCosineRule) {
  Cli r = run(p("ref.onnx") + " " + p("noisy.onnx") + quick() + "--json", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: no --eval"), std::string::npos);
  // Without labels the rule is cosine >= 0.99: the noisy weights fail it, the reference is greenest.
  EXPECT_NE(r.out.find("\"greenest\": \"ref.onnx\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cosine"), std::string::npos);
}

TEST_F(BenchCli, BadArgumentsFailWithOneLine) {
  for (std::string args : {std::string(""), p("missing.onnx"), p("ref.onnx") + " --runs x",
                           p("ref.onnx") + " --device tpu", p("ref.onnx") + " --labels " + p("labels.txt"),
                           p("ref.onnx") + " --eval " + p("samples") + " --labels " + p("ref.onnx"),
                           p("ref.onnx") + " --max-drop -1"}) {
    Cli r = run(args, dir);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
    EXPECT_NE(r.err.find("error"), std::string::npos) << r.err;
  }
}
