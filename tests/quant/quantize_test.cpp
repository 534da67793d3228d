// Quantization passes on small graphs built in the IR: calibration from the batched .npy layout,
// static QDQ and dynamic rewrites, export and re-import, and clean errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"
#include "onnx_import/sample_io.h"
#include "quant/quantize.h"

namespace fs = std::filesystem;

namespace joule::quant {
namespace {

// x [1, 17] -> MatMul(W [17, 3]) -> Relu -> MatMul(W2 [3, 5]) + b -> y, opset 13, seeded weights.
std::string write_mlp(const std::string& dir) {
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.f, 0.5f);
  auto rnd = [&](Shape s) {
    Tensor t(DType::kF32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
  };
  ir::Graph g;
  g.opset_imports[""] = 13;
  ir::Value* x = g.add_value("x");
  x->desc = ir::TensorDesc::known(DType::kF32, {1, 17});
  g.inputs.push_back(x);
  ir::Value* w1 = g.add_constant("w1", rnd({17, 3}));
  ir::Value* w2 = g.add_constant("w2", rnd({3, 5}));
  ir::Value* b = g.add_constant("b", rnd({5}));
  ir::Value* h = g.add_value("h");
  ir::Value* r = g.add_value("r");
  ir::Value* m = g.add_value("m");
  ir::Value* y = g.add_value("y");
  g.add_node("MatMul", {x, w1}, {h}, "mm1");
  g.add_node("Relu", {h}, {r}, "relu");
  g.add_node("MatMul", {r, w2}, {m}, "mm2");
  g.add_node("Add", {m, b}, {y}, "add");
  g.outputs.push_back(y);
  fs::create_directories(dir);
  std::string path = dir + "/mlp.onnx";
  EXPECT_TRUE(onnx_import::export_model(g, path).is_ok());
  return path;
}

std::string work_dir(const std::string& name) {
  return (fs::temp_directory_path() / ("joule_quant_" + name + "_" + std::to_string(::getpid()))).string();
}

TEST(QuantPass, StaticQdqFromBatchedNpyCalibrationRoundTrips) {
  std::string dir = work_dir("static");
  std::string model = write_mlp(dir);
  // 255 samples along the batch axis in one x.npy.
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-2.f, 3.f);
  Tensor xs(DType::kF32, {255, 17});
  for (int64_t i = 0; i < xs.numel(); ++i) xs.data<float>()[i] = u(rng);
  fs::create_directories(dir + "/calib");
  ASSERT_TRUE(onnx_import::save_npy(xs, dir + "/calib/x.npy").is_ok());
  SampleSource src;
  ASSERT_TRUE(src.open(dir + "/calib", {"x"}).is_ok());
  ASSERT_EQ(src.size(), 255u);

  ir::Graph g;
  ASSERT_TRUE(onnx_import::import_model(model, g).is_ok());
  QuantizeOptions opts;
  opts.observer.method = CalibMethod::kPercentile;
  auto acts = activations_to_calibrate(g, opts);
  EXPECT_EQ(acts.size(), 4u);  // x, h, r, m
  std::map<std::string, Range> ranges;
  ASSERT_TRUE(calibrate(model, acts, src, opts.observer, ranges).is_ok());
  EXPECT_EQ(ranges.size(), 4u);
  EXPECT_GE(ranges["r"].lo, 0.f);  // Relu output
  QuantReport rep;
  ASSERT_TRUE(quantize_graph(g, ranges, opts, rep).is_ok());
  EXPECT_EQ(rep.quantized(), 2u);
  int q = 0, dq = 0;
  for (auto& n : g.nodes) q += n->op_type == "QuantizeLinear", dq += n->op_type == "DequantizeLinear";
  EXPECT_EQ(q, 4);
  EXPECT_EQ(dq, 6);  // 4 activations + 2 weights
  std::string out = dir + "/mlp_int8.onnx";
  ASSERT_TRUE(onnx_import::export_model(g, out).is_ok());

  // Re-import and compare with FP32 on the calibration data.
  std::vector<std::vector<Tensor>> ref;
  ASSERT_TRUE(reference_outputs(model, src, 64, ref).is_ok());
  auto sess = Session::load(out);
  ASSERT_EQ(sess->outputs()[0].name, "y");
  Fidelity fid;
  ASSERT_TRUE(evaluate(model, ranges, opts, src, ref, {}, fid).is_ok());
  EXPECT_GT(fid.cosine, 0.999);
  EXPECT_GT(fid.sqnr_db, 25.0);
  std::vector<LayerSensitivity> sens;
  ASSERT_TRUE(layer_sensitivity(model, ranges, opts, src, ref, sens).is_ok());
  ASSERT_EQ(sens.size(), 2u);
  EXPECT_LE(sens[0].fid.sqnr_db, sens[1].fid.sqnr_db);
  fs::remove_all(dir);
}

TEST(QuantPass, DynamicRewriteMatchesFloatClosely) {
  std::string dir = work_dir("dynamic");
  std::string model = write_mlp(dir);
  ir::Graph g;
  ASSERT_TRUE(onnx_import::import_model(model, g).is_ok());
  QuantizeOptions opts;
  opts.dynamic = true;
  opts.keep_float = {"mm2"};
  QuantReport rep;
  ASSERT_TRUE(quantize_graph(g, {}, opts, rep).is_ok());
  EXPECT_EQ(rep.quantized(), 1u);
  bool has_mmi = false;
  for (auto& n : g.nodes) has_mmi |= n->op_type == "MatMulInteger";
  EXPECT_TRUE(has_mmi);
  std::unique_ptr<Session> qs, fs32;
  ASSERT_TRUE(Session::create(std::move(g), {}, qs).is_ok());
  ASSERT_TRUE(Session::create(model, {}, fs32).is_ok());
  Tensor x(DType::kF32, {1, 17});
  for (int64_t i = 0; i < 17; ++i) x.data<float>()[i] = std::sin(static_cast<float>(i)) * 2;
  auto a = fs32->run(std::vector<Tensor>{x}), b = qs->run(std::vector<Tensor>{x});
  for (int64_t i = 0; i < 5; ++i) EXPECT_NEAR(a[0].data<float>()[i], b[0].data<float>()[i], 0.05);
  fs::remove_all(dir);
}

// Conv (3 -> 5, 3x3, pad 1) -> ConvTranspose (5 -> 2, 2x2, stride 2) on a 1x3x7x9 input; int8 symmetric
// activations and per-tensor weights this time; biases become int32.
TEST(QuantPass, ConvAndConvTransposeInt8Activations) {
  std::string dir = work_dir("conv");
  fs::create_directories(dir + "/calib/s0");
  std::mt19937 rng(13);
  std::normal_distribution<float> d(0.f, 0.4f);
  auto rnd = [&](Shape sh) {
    Tensor t(DType::kF32, sh);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
  };
  ir::Graph g;
  g.opset_imports[""] = 13;
  ir::Value* x = g.add_value("x");
  x->desc = ir::TensorDesc::known(DType::kF32, {1, 3, 7, 9});
  g.inputs.push_back(x);
  ir::Value* h = g.add_value("h");
  ir::Value* y = g.add_value("y");
  ir::Node* c = g.add_node("Conv", {x, g.add_constant("w", rnd({5, 3, 3, 3})), g.add_constant("b", rnd({5}))}, {h}, "conv");
  ir::Attribute pads;
  pads.kind = ir::Attribute::Kind::kInts;
  pads.ints = {1, 1, 1, 1};
  c->attrs["pads"] = pads;
  ir::Node* ct = g.add_node("ConvTranspose", {h, g.add_constant("wt", rnd({5, 2, 2, 2})), g.add_constant("bt", rnd({2}))}, {y}, "convt");
  ir::Attribute strides;
  strides.kind = ir::Attribute::Kind::kInts;
  strides.ints = {2, 2};
  ct->attrs["strides"] = strides;
  g.outputs.push_back(y);
  std::string model = dir + "/conv.onnx";
  ASSERT_TRUE(onnx_import::export_model(g, model).is_ok());
  ASSERT_TRUE(onnx_import::save_npy(rnd({1, 3, 7, 9}), dir + "/calib/s0/x.npy").is_ok());
  SampleSource src;
  ASSERT_TRUE(src.open(dir + "/calib", {"x"}).is_ok());
  QuantizeOptions opts;
  opts.int8_activations = true;
  opts.per_channel = false;
  opts.observer.method = CalibMethod::kEntropy;
  ir::Graph q;
  ASSERT_TRUE(onnx_import::import_model(model, q).is_ok());
  std::map<std::string, Range> ranges;
  ASSERT_TRUE(calibrate(model, activations_to_calibrate(q, opts), src, opts.observer, ranges).is_ok());
  QuantReport rep;
  ASSERT_TRUE(quantize_graph(q, ranges, opts, rep).is_ok());
  EXPECT_EQ(rep.quantized(), 2u);
  int i32 = 0;
  for (auto& v : q.values) i32 += v->is_constant() && v->constant.dtype() == DType::kI32;
  EXPECT_GE(i32, 2);
  std::vector<std::vector<Tensor>> ref;
  ASSERT_TRUE(reference_outputs(model, src, 0, ref).is_ok());
  Fidelity fid;
  ASSERT_TRUE(evaluate(model, ranges, opts, src, ref, {}, fid).is_ok());
  EXPECT_GT(fid.cosine, 0.99);
  fs::remove_all(dir);
}

TEST(QuantPass, CleanErrors) {
  SampleSource src;
  EXPECT_FALSE(src.open("/nonexistent/joule_calib", {"x"}).is_ok());
  std::string dir = work_dir("err");
  std::string model = write_mlp(dir);
  fs::create_directories(dir + "/calib");
  ASSERT_TRUE(onnx_import::save_npy(Tensor(DType::kF32, {4, 17}), dir + "/calib/x.npy").is_ok());
  ASSERT_TRUE(src.open(dir + "/calib", {"x"}).is_ok());
  std::map<std::string, Range> ranges;
  Status st = calibrate(model, {"no_such_tensor"}, src, {}, ranges);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("no_such_tensor"), std::string::npos);
  NamedTensors in;
  EXPECT_FALSE(src.get(4, in).is_ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace joule::quant
