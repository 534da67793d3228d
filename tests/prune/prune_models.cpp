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
#include "joule/session.h"
#include "prune/prune.h"
#include "runtime/passes/passes.h"

#include <cmath>
#include <map>

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

namespace {

// onnx.checker and (when installed) ONNX Runtime on an exported model; `sample` is a sample folder.
void check_valid_onnx(const std::string& path, const std::string& sample) {
  std::string py = "/usr/bin/python3 -c \"import onnx; onnx.checker.check_model(onnx.load('" + path + "'))\"";
  if (have("/usr/bin/python3") && std::system("/usr/bin/python3 -c 'import onnx' 2>/dev/null") == 0)
    EXPECT_EQ(std::system(py.c_str()), 0) << "onnx.checker rejected " << path;
  else
    std::printf("onnx.checker not run: /usr/bin/python3 with onnx not installed\n");
  std::string ort = std::string(JOULE_SOURCE_DIR) + "/bench/peer";
  if (have(ort + "/node_modules/onnxruntime-node") && std::system("node --version >/dev/null 2>&1") == 0) {
    std::string cmd = "node " + ort + "/ort_run.js " + path + " --inputs " + sample + " >/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "ONNX Runtime failed on " << path;
  } else {
    std::printf("ONNX Runtime check skipped: bench/peer/install_ort.sh has not been run\n");
  }
}

std::string temp_onnx(const std::string& tag) {
  return (fs::temp_directory_path() / ("joule_prune_" + tag + "_" + std::to_string(::getpid()) + ".onnx")).string();
}

// Runs `g` on batch 2 x seq 5 (other sizes than the calibration's 1 x 17).
Tensor run_encoder_2x5(const ir::Graph& g) {
  Tensor x(DType::kF32, {2, 5, 64});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::sin(0.37f * static_cast<float>(i));
  Tensor m(DType::kI64, {2, 5});
  for (int64_t i = 0; i < m.numel(); ++i) m.data<int64_t>()[i] = i == 9 ? 0 : 1;
  std::unique_ptr<Session> s;
  EXPECT_TRUE(Session::create(prune::clone_graph(g), {}, s).is_ok());
  std::vector<Tensor> out;
  Status st = s->run({{"embeddings", x}, {"attention_mask", m}}, out);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return out.empty() ? Tensor() : out[0];
}

}  // namespace

// Torch-exported BERT-shaped encoder (Shape->Gather->Concat->Reshape chains, symbolic batch/seq):
// 25% of the heads and FFN neurons go, parameters drop by exactly the sliced weights, the model
// stays valid for other batch/seq sizes, and removing heads equals zeroing their output-projection rows.
TEST(PruneModels, BertTinyHeadsAndFfn) {
  std::string d = kDir + "/bert_tiny";
  if (!have(d + "/model.onnx")) GTEST_SKIP() << "no " << d << "/model.onnx (make_prune_models.py needs torch)";
  ir::Graph original;
  ASSERT_TRUE(onnx_import::import_model(d + "/model.onnx", original).is_ok());
  auto calib = load_samples(d + "/samples");
  ir::Graph g = prune::clone_graph(original);
  prune::PruneOptions o;
  o.ratio = 0;
  o.heads = 0.25;
  o.ffn = 0.25;
  prune::PruneReport r;
  ASSERT_TRUE(prune::prune_graph(g, o, calib, {}, r).is_ok());
  EXPECT_EQ(r.heads_before, 8);
  EXPECT_EQ(r.heads_after, 6);
  int ffn_layers = 0;
  for (auto& l : r.layers)
    if (l.node.find("ffn.0") != std::string::npos) {
      ++ffn_layers;
      EXPECT_EQ(l.after, 192) << l.node;
    }
  EXPECT_EQ(ffn_layers, 2);
  // Per layer: one head of 16 (Q/K/V columns + biases, output-projection rows) and 64 FFN neurons.
  int64_t per_layer = 3 * (64 * 16 + 16) + 16 * 64 + (64 * 64 + 64 + 64 * 64);
  EXPECT_EQ(r.params_before - r.params_after, 2 * per_layer);
  EXPECT_LT(r.macs_after, r.macs_before * 0.8);
  ASSERT_TRUE(r.has_fidelity);
  EXPECT_GT(r.before_reconstruction.cosine, 0.9);
  std::printf("bert_tiny heads 8 -> 6, FFN 256 -> 192: MACs %lld -> %lld, params %lld -> %lld, cosine %.4f\n",
              (long long)r.macs_before, (long long)r.macs_after, (long long)r.params_before,
              (long long)r.params_after, r.before_reconstruction.cosine);

  Tensor y0 = run_encoder_2x5(original), y1 = run_encoder_2x5(g);
  ASSERT_EQ(y0.shape(), y1.shape());
  EXPECT_EQ(y1.shape(), (Shape{2, 5, 64}));
  std::string out = temp_onnx("bert");
  ASSERT_TRUE(onnx_import::export_model(g, out).is_ok());
  ir::Graph back;
  ASSERT_TRUE(onnx_import::import_model(out, back).is_ok());
  ASSERT_EQ(back.inputs.size(), 2u);
  EXPECT_EQ(back.inputs[0]->dim_params, original.inputs[0]->dim_params);
  check_valid_onnx(out, d + "/samples/sample_001");
  fs::remove(out);

  // Heads only: the pruned model equals the original with the dropped heads' output rows zeroed.
  ir::Graph h = prune::clone_graph(original), z = prune::clone_graph(original);
  o.ffn = -1;
  ASSERT_TRUE(prune::prune_graph(h, o, calib, {}, r).is_ok());
  std::map<std::string, Shape> bound = {{"embeddings", {1, 17, 64}}, {"attention_mask", {1, 17}}};
  prune::KnownValues known;
  ASSERT_TRUE(passes::infer_shapes(z, bound).is_ok());
  ASSERT_TRUE(prune::specialize(z, bound, &known).is_ok());
  prune::HeadAnalysis ha;
  ASSERT_TRUE(prune::analyze_heads(z, known, {}, ha).is_ok());
  ASSERT_EQ(ha.blocks.size(), 2u);
  std::vector<std::vector<double>> hs;
  ASSERT_TRUE(prune::head_scores(z, ha, prune::Criterion::kL1, calib, hs).is_ok());
  auto keep = prune::choose_heads(ha, hs, 0.25);
  for (size_t b = 0; b < ha.blocks.size(); ++b) {
    auto& B = ha.blocks[b];
    ASSERT_TRUE(B.prunable) << B.reason;
    EXPECT_EQ(B.heads, 4);
    EXPECT_EQ(B.projections.size(), 3u);
    ASSERT_EQ(B.outputs.size(), 1u);
    ir::Value* wv = B.outputs[0]->inputs[1];
    Tensor w = wv->constant.clone();
    for (int64_t j = 0; j < B.heads; ++j)
      if (!keep[b][static_cast<size_t>(j)])
        for (int64_t row = j * B.head_dim; row < (j + 1) * B.head_dim; ++row)
          for (int64_t c = 0; c < w.dim(1); ++c) w.data<float>()[row * w.dim(1) + c] = 0;
    wv->constant = w;
  }
  for (auto& v : z.values)
    if (v->producer && !v->is_constant()) v->desc = {};
  for (size_t i = 0; i < z.inputs.size(); ++i) z.inputs[i]->desc = original.inputs[i]->desc;
  Tensor a = run_encoder_2x5(h), b = run_encoder_2x5(z);
  ASSERT_EQ(a.numel(), b.numel());
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    worst = std::max(worst, static_cast<double>(std::abs(a.data<float>()[i] - b.data<float>()[i])));
  EXPECT_LT(worst, 1e-4) << "removing heads differs from zeroing their output-projection rows";
}

// Conv->ReLU->BatchNorm CNN (BN kept by the export): re-estimating BN statistics after pruning
// brings the output closer to the unpruned model's; the result stays valid ONNX.
TEST(PruneModels, BatchNormReestimation) {
  std::string d = kDir + "/resnet_bn";
  if (!have(d + "/model.onnx")) GTEST_SKIP() << "no " << d << "/model.onnx (make_prune_models.py needs torch)";
  ir::Graph original;
  ASSERT_TRUE(onnx_import::import_model(d + "/model.onnx", original).is_ok());
  int bns = 0;
  for (auto& n : original.nodes) bns += n->op_type == "BatchNormalization";
  ASSERT_GT(bns, 0) << "the fixture lost its BatchNorms";
  auto calib = load_samples(d + "/samples");
  ir::Graph g = prune::clone_graph(original);
  prune::PruneOptions o;
  o.ratio = 0.3;
  o.reestimate_bn = true;
  prune::PruneReport r;
  ASSERT_TRUE(prune::prune_graph(g, o, calib, {}, r).is_ok());
  EXPECT_EQ(r.bn_reestimated, bns);
  std::printf("resnet_bn 30%%: cosine %.4f pruned, %.4f after BatchNorm re-estimation (%d layers)\n",
              r.before_reconstruction.cosine, r.after_bn.cosine, r.bn_reestimated);
  EXPECT_GT(r.after_bn.cosine, r.before_reconstruction.cosine + 0.05);
  // Nothing pruned: re-estimation leaves the model as it was.
  ir::Graph same = prune::clone_graph(original);
  o.ratio = 0;
  ASSERT_TRUE(prune::prune_graph(same, o, calib, {}, r).is_ok());
  EXPECT_GT(r.after_bn.cosine, 0.99999);
  std::string out = temp_onnx("bn");
  ASSERT_TRUE(onnx_import::export_model(g, out).is_ok());
  check_valid_onnx(out, d + "/samples/sample_000");
  fs::remove(out);
}
