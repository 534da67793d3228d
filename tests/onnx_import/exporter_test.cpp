// export_model on hand-built graphs: every attribute kind, subgraphs reading outer values,
// unnamed values, dropped unused constants, external data; re-imported and compared.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"

namespace fs = std::filesystem;
using namespace joule;
using K = ir::Attribute::Kind;

namespace {

fs::path out_dir() {
  fs::path d = fs::path(JOULE_BINARY_DIR) / "test_out" / "exporter";
  fs::create_directories(d);
  return d;
}

Tensor random_f32(Shape s, uint32_t seed) {
  Tensor t(DType::kF32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-3.f, 3.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// y = (x[batch,17] + w[17]) * big[3,17] through an unnamed intermediate; an unused constant on the side.
ir::Graph runnable_graph() {
  ir::Graph g;
  g.name = "runnable";
  g.opset_imports[""] = 13;
  ir::Value* x = g.add_value("x");
  x->desc = ir::TensorDesc::known(DType::kF32, {-1, 17});
  x->dim_params = {"batch", ""};
  g.inputs.push_back(x);
  ir::Value* w = g.add_constant("w", random_f32({17}, 1));
  ir::Value* big = g.add_constant("big", random_f32({3, 17}, 2));
  g.add_constant("unused", random_f32({255}, 3));
  ir::Value* t = g.add_value("");  // unnamed: the exporter must invent a unique name
  t->desc = ir::TensorDesc::known(DType::kF32, {-1, 17});
  ir::Value* y = g.add_value("y");
  y->desc = ir::TensorDesc::known(DType::kF32, {3, 17});
  g.add_node("Add", {x, w}, {t}, "add");
  g.add_node("Mul", {t, big}, {y}, "mul");
  g.outputs.push_back(y);
  return g;
}

TEST(Exporter, RunnableGraphRoundTripsWithExternalData) {
  ir::Graph g = runnable_graph();
  fs::path p = out_dir() / "runnable.onnx";
  fs::remove(out_dir() / "runnable.data");
  onnx_import::ExportOptions eo;
  eo.external_data_threshold = 100;  // big (204 bytes) goes external, w (68 bytes) stays inline
  Status st = onnx_import::export_model(g, p.string(), eo);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_TRUE(fs::exists(out_dir() / "runnable.data"));
  EXPECT_EQ(fs::file_size(out_dir() / "runnable.data"), 3u * 17u * 4u);

  ir::Graph r;
  st = onnx_import::import_model(p.string(), r);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(r.name, "runnable");
  EXPECT_EQ(r.opset(""), 13);
  EXPECT_GE(r.ir_version, 7);
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0]->desc.shape, (Shape{-1, 17}));
  EXPECT_EQ(r.inputs[0]->dim_params, (std::vector<std::string>{"batch", ""}));
  EXPECT_EQ(r.find_value("unused"), nullptr) << "unused constants must not be written";
  ASSERT_NE(r.find_value("big"), nullptr);
  EXPECT_TRUE(same_bytes(r.find_value("big")->constant, g.find_value("big")->constant));
  ASSERT_EQ(r.nodes.size(), 2u);
  EXPECT_FALSE(r.nodes[0]->outputs[0]->name.empty());
  EXPECT_EQ(r.nodes[0]->outputs[0], r.nodes[1]->inputs[0]);
  EXPECT_EQ(r.nodes[0]->outputs[0]->desc.shape, (Shape{-1, 17})) << "value_info for the intermediate";

  // Both graphs compute the same numbers.
  std::unique_ptr<Session> s1, s2;
  ASSERT_TRUE(Session::create(runnable_graph(), {}, s1).is_ok());
  st = Session::create(std::move(r), {}, s2);
  ASSERT_TRUE(st.is_ok()) << st.message();
  Tensor x = random_f32({3, 17}, 9);
  std::vector<Tensor> o1, o2;
  ASSERT_TRUE(s1->run({{"x", x}}, o1).is_ok());
  ASSERT_TRUE(s2->run({{"x", x}}, o2).is_ok());
  ASSERT_EQ(o1.size(), 1u);
  EXPECT_TRUE(same_bytes(o1[0], o2[0]));
}

TEST(Exporter, EveryAttributeKindAndSubgraphs) {
  ir::Graph g;
  g.name = "attrs";
  g.opset_imports[""] = 13;
  g.opset_imports["test.joule"] = 2;
  ir::Value* x = g.add_value("x");
  x->desc = ir::TensorDesc::known(DType::kF32, {4});
  g.inputs.push_back(x);
  ir::Value* w_sub = g.add_constant("w_sub", random_f32({4}, 5));  // read only inside the subgraph
  ir::Value* y = g.add_value("y");
  y->desc.dtype = DType::kF32;  // rank unknown
  ir::Node* n = g.add_node("Everything", {x, nullptr}, {y, nullptr}, "every", "test.joule");

  auto body = std::make_shared<ir::Graph>();
  body->name = "body";
  body->parent = &g;
  ir::Value* bo = body->add_value("body_out");
  body->add_node("Mul", {x, w_sub}, {bo});
  body->outputs.push_back(bo);
  auto body2 = std::make_shared<ir::Graph>();
  body2->name = "body2";
  body2->parent = &g;
  ir::Value* bi = body2->add_value("body2_in");
  bi->desc = ir::TensorDesc::known(DType::kI64, {});
  body2->inputs.push_back(bi);
  body2->outputs.push_back(bi);

  auto set = [&](const char* name, ir::Attribute a) { n->attrs[name] = std::move(a); };
  ir::Attribute a;
  a.kind = K::kFloat; a.f = 0.25f; set("f", a);
  a = {}; a.kind = K::kInt; a.i = -(int64_t{1} << 40); set("i", a);
  a = {}; a.kind = K::kString; a.s = std::string("bytes\0ok", 8); set("s", a);
  a = {}; a.kind = K::kFloats; a.floats = {1.5f, -2.f}; set("fs", a);
  a = {}; a.kind = K::kInts; a.ints = {3, -1, 0}; set("is", a);
  a = {}; a.kind = K::kStrings; a.strings = {"a", ""}; set("ss", a);
  a = {}; a.kind = K::kTensor; a.t = Tensor::from_vector<int64_t>({2}, {7, -7}); set("t", a);
  a = {}; a.kind = K::kTensors; a.tensors = {random_f32({2, 2}, 6), Tensor::scalar<uint8_t>(200)}; set("ts", a);
  a = {}; a.kind = K::kGraph; a.g = body; set("g", a);
  a = {}; a.kind = K::kGraphs; a.graphs = {body2}; set("gs", a);
  a = {}; a.kind = K::kInts; set("empty_ints", a);
  g.outputs.push_back(y);

  fs::path p = out_dir() / "attrs.onnx";
  Status st = onnx_import::export_model(g, p.string());
  ASSERT_TRUE(st.is_ok()) << st.message();
  ir::Graph r;
  st = onnx_import::import_model(p.string(), r);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(r.opset("test.joule"), 2);
  ASSERT_EQ(r.nodes.size(), 1u);
  const ir::Node& m = *r.nodes[0];
  EXPECT_EQ(m.domain, "test.joule");
  EXPECT_EQ(m.opset, 2);
  ASSERT_EQ(m.inputs.size(), 2u);
  EXPECT_EQ(m.inputs[1], nullptr);
  ASSERT_EQ(m.outputs.size(), 2u);
  EXPECT_EQ(m.outputs[1], nullptr);
  EXPECT_EQ(m.outputs[0]->desc.dtype, DType::kF32);
  EXPECT_FALSE(m.outputs[0]->desc.rank_known);
  ASSERT_EQ(m.attrs.size(), n->attrs.size());
  for (const auto& [k, v] : n->attrs) {
    SCOPED_TRACE(k);
    ASSERT_TRUE(m.has_attr(k));
    const ir::Attribute& b = m.attrs.at(k);
    EXPECT_EQ(b.kind, v.kind);
    EXPECT_EQ(b.f, v.f);
    EXPECT_EQ(b.i, v.i);
    EXPECT_EQ(b.s, v.s);
    EXPECT_EQ(b.floats, v.floats);
    EXPECT_EQ(b.ints, v.ints);
    EXPECT_EQ(b.strings, v.strings);
    EXPECT_EQ(b.t.defined(), v.t.defined());
    if (v.t.defined()) EXPECT_TRUE(same_bytes(b.t, v.t));
    ASSERT_EQ(b.tensors.size(), v.tensors.size());
    for (size_t i = 0; i < v.tensors.size(); ++i) EXPECT_TRUE(same_bytes(b.tensors[i], v.tensors[i]));
    EXPECT_EQ(b.graphs.size(), v.graphs.size());
  }
  // The subgraph's node reads the outer input and the outer-only constant through the parent scope.
  const ir::Graph& rb = *m.attrs.at("g").g;
  EXPECT_EQ(rb.name, "body");
  ASSERT_EQ(rb.nodes.size(), 1u);
  EXPECT_EQ(rb.nodes[0]->inputs[0], r.find_value("x"));
  ASSERT_EQ(rb.nodes[0]->inputs[1], r.find_value("w_sub"));
  EXPECT_TRUE(same_bytes(r.find_value("w_sub")->constant, w_sub->constant));
  const ir::Graph& rb2 = *m.attrs.at("gs").graphs.at(0);
  ASSERT_EQ(rb2.inputs.size(), 1u);
  EXPECT_EQ(rb2.inputs[0]->desc.dtype, DType::kI64);
  EXPECT_EQ(rb2.inputs[0]->desc.shape, Shape{});
  EXPECT_TRUE(rb2.inputs[0]->desc.rank_known);
}

TEST(Exporter, UnwritablePathIsAnIoError) {
  ir::Graph g = runnable_graph();
  Status st = onnx_import::export_model(g, "/nonexistent_joule_dir/x.onnx");
  EXPECT_EQ(st.code(), StatusCode::kIo);
  EXPECT_NE(st.message().find("/nonexistent_joule_dir/x.onnx"), std::string::npos) << st.message();
}

}  // namespace
