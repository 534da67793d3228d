// Import -> export -> onnx.checker -> re-import -> run both and compare outputs bit for bit.
// The models come from make_roundtrip_models.py (python3-onnx); the test skips without it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"
#include "runtime/ir/dtype_dispatch.h"
#include "tests/onnx_import/python_models.h"

namespace fs = std::filesystem;
using namespace joule;

namespace {

const char* kPython = "/usr/bin/python3";

fs::path model_dir() {
  static const std::string dir =
      testutil::generate_models(JOULE_SOURCE_DIR "/tests/onnx_import/make_roundtrip_models.py", "roundtrip_models");
  return dir;
}

// Runs onnx.checker.check_model(path, full_check=True) in python; returns true when it passes.
bool onnx_checker_accepts(const fs::path& p) {
  std::string cmd = std::string(kPython) +
                    " -c 'import sys, onnx; onnx.checker.check_model(sys.argv[1], full_check=True)' '" + p.string() + "'";
  return std::system(cmd.c_str()) == 0;
}

// Random input for a declared input: symbolic/unknown dims become `sym`.
Tensor random_input(const IoInfo& io, int64_t sym, std::mt19937& rng) {
  Shape s = io.shape;
  for (int64_t& d : s)
    if (d < 0) d = sym;
  Tensor t(io.dtype, s);
  if (io.dtype == DType::kBool) {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<bool>()[i] = rng() & 1;
    return t;
  }
  dispatch_numeric(io.dtype, [&]<class T>() {
    std::uniform_real_distribution<double> u(-100.0, 100.0);
    for (int64_t i = 0; i < t.numel(); ++i) {
      double x = u(rng);
      if constexpr (std::is_floating_point_v<ComputeT<T>>) t.data<T>()[i] = from_compute<T>(x / 37.0);
      else t.data<T>()[i] = static_cast<T>(static_cast<int64_t>(x));
    }
  });
  return t;
}

void expect_same_io(const std::vector<ir::Value*>& a, const std::vector<ir::Value*>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]->name, b[i]->name) << what << " " << i;
    EXPECT_EQ(a[i]->desc.dtype, b[i]->desc.dtype) << what << " " << a[i]->name;
    EXPECT_EQ(a[i]->desc.rank_known, b[i]->desc.rank_known) << what << " " << a[i]->name;
    EXPECT_EQ(a[i]->desc.shape, b[i]->desc.shape) << what << " " << a[i]->name;
    EXPECT_EQ(a[i]->dim_params, b[i]->dim_params) << what << " " << a[i]->name;
  }
}

void expect_same_constants(const ir::Graph& a, const ir::Graph& b) {
  // Every constant a node reads in `a` must come back with the same bytes.
  for (const auto& n : a.nodes)
    for (const ir::Value* v : n->inputs) {
      if (!v || !v->is_constant()) continue;
      const ir::Value* w = b.find_value(v->name);
      ASSERT_NE(w, nullptr) << "constant '" << v->name << "' lost";
      ASSERT_TRUE(w->is_constant()) << v->name;
      EXPECT_EQ(w->constant.dtype(), v->constant.dtype()) << v->name;
      EXPECT_EQ(w->constant.shape(), v->constant.shape()) << v->name;
      ASSERT_EQ(w->constant.nbytes(), v->constant.nbytes()) << v->name;
      EXPECT_EQ(std::memcmp(w->constant.raw(), v->constant.raw(), v->constant.nbytes()), 0) << v->name;
    }
}

class RoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundTrip, ExportCheckReimportRun) {
  if (!testutil::have_python_onnx()) GTEST_SKIP() << "/usr/bin/python3 with the onnx and numpy modules is not available";
  ASSERT_FALSE(model_dir().empty()) << "make_roundtrip_models.py failed";
  const std::string name = GetParam();
  const fs::path orig = model_dir() / (name + ".onnx");

  ir::Graph g1;
  Status st = onnx_import::import_model(orig.string(), g1);
  ASSERT_TRUE(st.is_ok()) << st.message();

  // Once with every initializer inline, once with those >= 256 bytes in an external file.
  for (uint64_t threshold : {uint64_t{0}, uint64_t{256}}) {
    SCOPED_TRACE("external_data_threshold=" + std::to_string(threshold));
    fs::path dir = fs::path(JOULE_BINARY_DIR) / "test_out" / "roundtrip" / (threshold ? "exported_ext" : "exported");
    fs::create_directories(dir);
    fs::path out = dir / (name + ".onnx");
    fs::remove(dir / (name + ".data"));
    onnx_import::ExportOptions eo;
    eo.external_data_threshold = threshold;
    st = onnx_import::export_model(g1, out.string(), eo);
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_TRUE(onnx_checker_accepts(out)) << "onnx.checker rejected " << out;
    if (threshold) {
      bool has_big = false;  // some constant that a node reads is big enough to go external
      for (const auto& n : g1.nodes)
        for (const ir::Value* v : n->inputs) has_big |= v && v->is_constant() && v->constant.nbytes() >= threshold;
      EXPECT_EQ(fs::exists(dir / (name + ".data")), has_big);
    }

    ir::Graph g2;
    st = onnx_import::import_model(out.string(), g2);
    ASSERT_TRUE(st.is_ok()) << st.message();
    expect_same_io(g1.inputs, g2.inputs, "input");
    expect_same_io(g1.outputs, g2.outputs, "output");
    ASSERT_EQ(g1.nodes.size(), g2.nodes.size());
    for (size_t i = 0; i < g1.nodes.size(); ++i) {
      EXPECT_EQ(g1.nodes[i]->op_type, g2.nodes[i]->op_type);
      EXPECT_EQ(g1.nodes[i]->opset, g2.nodes[i]->opset);
      EXPECT_EQ(g1.nodes[i]->attrs.size(), g2.nodes[i]->attrs.size());
    }
    EXPECT_EQ(g1.opset_imports, g2.opset_imports);
    expect_same_constants(g1, g2);
    // Constants nobody reads are not written.
    for (const auto& v : g2.values)
      if (v->is_constant()) EXPECT_NE(v->name, "unused_weight");

    std::unique_ptr<Session> s1, s2;
    SessionOptions keep;
    keep.keep_constants = true;  // s1's optimized graph is exported below, weights included
    st = Session::create(orig.string(), keep, s1);
    if (st.code() == StatusCode::kUnsupported) {
      std::printf("[ NOTE     ] %s: not run (%s)\n", name.c_str(), st.message().c_str());
      continue;  // the structure checks above still ran
    }
    ASSERT_TRUE(st.is_ok()) << st.message();
    st = Session::create(out.string(), {}, s2);
    ASSERT_TRUE(st.is_ok()) << st.message();
    // The session's optimized graph (folded constants, inferred value_info) must export cleanly too.
    fs::path opt = dir / (name + ".optimized.onnx");
    st = onnx_import::export_model(s1->graph(), opt.string(), eo);
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_TRUE(onnx_checker_accepts(opt)) << "onnx.checker rejected " << opt;
    std::unique_ptr<Session> s3;
    st = Session::create(opt.string(), {}, s3);
    ASSERT_TRUE(st.is_ok()) << st.message();

    std::mt19937 rng(42);
    for (int64_t sym : {1, 3, 17}) {
      std::vector<std::pair<std::string, Tensor>> ins;
      for (const IoInfo& io : s1->inputs()) ins.emplace_back(io.name, random_input(io, sym, rng));
      std::vector<Tensor> o1, o2;
      st = s1->run(ins, o1);
      ASSERT_TRUE(st.is_ok()) << st.message();
      for (const Session* other : {s2.get(), s3.get()}) {
        SCOPED_TRACE(other == s2.get() ? "re-imported export" : "exported optimized graph");
        st = other->run(ins, o2);
        ASSERT_TRUE(st.is_ok()) << st.message();
        ASSERT_EQ(o1.size(), o2.size());
        for (size_t i = 0; i < o1.size(); ++i) {
          ASSERT_EQ(o1[i].dtype(), o2[i].dtype());
          ASSERT_EQ(o1[i].shape(), o2[i].shape());
          EXPECT_EQ(std::memcmp(o1[i].raw(), o2[i].raw(), o1[i].nbytes()), 0) << "output " << i << " differs";
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, RoundTrip,
                         ::testing::Values("add_mul_raw", "typed_fields", "old_ir_input_initializer", "external_data",
                                           "constant_node_and_unused", "if_subgraph"));

}  // namespace
