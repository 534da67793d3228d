// The demo model (tests/models/make_demo_model.py: a small CNN trained on scikit-learn's digits):
// joule must classify the saved test samples exactly as PyTorch did, so its accuracy equals PyTorch's,
// through the Session API (one sample at a time and as one batch) and through `joule run`.
//
// The model is made by the ctest fixture 'demo_model' into <build>/demo (cached).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"
#include "tests/e2e/e2e_util.h"

namespace fs = std::filesystem;
using namespace joule;
using namespace joule::e2e;

namespace {

std::vector<int> read_ints(const std::string& path) {
  std::ifstream in(path);
  std::vector<int> v;
  int x;
  while (in >> x) v.push_back(x);
  return v;
}

int argmax(const Tensor& t, int64_t offset, int64_t n) {
  int best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (t.value_as_double(offset + i) > t.value_as_double(offset + best)) best = static_cast<int>(i);
  return best;
}

class DemoModel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = kDemoDir;
    if (!fs::exists(fs::path(dir_) / "digits_cnn.onnx"))
      GTEST_SKIP() << "demo model not generated (needs /usr/bin/python3 with python3-torch, python3-onnx, python3-sklearn): "
                   << "/usr/bin/python3 " << kSourceDir << "/tests/models/make_demo_model.py --out " << dir_;
    labels_ = read_ints(dir_ + "/labels.txt");
    torch_preds_ = read_ints(dir_ + "/torch_predictions.txt");
    ASSERT_FALSE(labels_.empty());
    ASSERT_EQ(labels_.size(), torch_preds_.size());
    for (size_t i = 0; i < labels_.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "samples/sample_%03zu", i);
      fs::path sample = fs::path(dir_) / name;
      Tensor x, logits;
      Status st = onnx_import::load_tensor_pb((sample / "input_0.pb").string(), x);
      ASSERT_TRUE(st.is_ok()) << st.message();
      st = onnx_import::load_tensor_pb((sample / "output_0.pb").string(), logits);
      ASSERT_TRUE(st.is_ok()) << st.message();
      images_.push_back(x);
      torch_logits_.push_back(logits);
    }
  }

  static double accuracy(const std::vector<int>& preds, const std::vector<int>& labels) {
    int64_t right = 0;
    for (size_t i = 0; i < preds.size(); ++i) right += preds[i] == labels[i];
    return static_cast<double>(right) / static_cast<double>(preds.size());
  }

  std::string dir_;
  std::vector<int> labels_, torch_preds_;
  std::vector<Tensor> images_, torch_logits_;
};

TEST_F(DemoModel, AccuracyEqualsPyTorchOneSampleAtATime) {
  std::unique_ptr<Session> sess;
  Status st = Session::create(dir_ + "/digits_cnn.onnx", SessionOptions{}, sess);
  ASSERT_TRUE(st.is_ok()) << st.message();
  std::vector<int> preds;
  for (size_t i = 0; i < images_.size(); ++i) {
    std::vector<Tensor> outs;
    st = sess->run({{"image", images_[i]}}, outs);
    ASSERT_TRUE(st.is_ok()) << "sample " << i << ": " << st.message();
    ASSERT_EQ(outs.size(), 1u);
    ASSERT_EQ(outs[0].shape(), (Shape{1, 10}));
    Comparison c = compare_to_reference(outs[0], torch_logits_[i]);
    EXPECT_TRUE(c.ok()) << "sample " << i << " logits vs PyTorch float32: " << c.summary();
    preds.push_back(argmax(outs[0], 0, 10));
  }
  EXPECT_EQ(preds, torch_preds_) << "joule's predicted classes differ from PyTorch's";
  double acc = accuracy(preds, labels_), torch_acc = accuracy(torch_preds_, labels_);
  std::cout << "[ demo ] joule accuracy " << acc << ", PyTorch accuracy " << torch_acc << " on " << labels_.size()
            << " samples\n";
  EXPECT_EQ(acc, torch_acc);
  EXPECT_GE(acc, 0.9) << "the demo model should be a decent classifier";
}

TEST_F(DemoModel, AccuracyEqualsPyTorchAsOneBatch) {
  int64_t n = static_cast<int64_t>(images_.size());
  Tensor batch(DType::kF32, {n, 1, 8, 8});
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(batch.data<float>() + i * 64, images_[static_cast<size_t>(i)].data<float>(), 64 * sizeof(float));
  std::vector<Tensor> outs;
  std::string err = run_joule(dir_ + "/digits_cnn.onnx", {{"image", batch}}, 2, outs);
  ASSERT_TRUE(err.empty()) << err;
  ASSERT_EQ(outs[0].shape(), (Shape{n, 10}));
  std::vector<int> preds;
  for (int64_t i = 0; i < n; ++i) preds.push_back(argmax(outs[0], i * 10, 10));
  EXPECT_EQ(preds, torch_preds_);
  EXPECT_EQ(accuracy(preds, labels_), accuracy(torch_preds_, labels_));
}

TEST_F(DemoModel, CliRunWritesPyTorchsLogits) {
  fs::path bin = fs::path(kBinaryDir) / "bin" / "joule";
  ASSERT_TRUE(fs::exists(bin)) << bin;
  fs::path out = fs::path(kBinaryDir) / "demo_cli_out";
  std::error_code ec;
  fs::remove_all(out, ec);
  std::string log = (fs::path(kBinaryDir) / "demo_cli_run.log").string();
  std::string cmd = "'" + bin.string() + "' run '" + dir_ + "/digits_cnn.onnx' --inputs '" + dir_ +
                    "/samples/sample_000' --outputs '" + out.string() + "' --repeat 3 > '" + log + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << read_text(log);
  Tensor logits;
  std::string name;
  Status st = onnx_import::load_tensor_pb((out / "output_0.pb").string(), logits, &name);
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(name, "logits");
  Comparison c = compare_to_reference(logits, torch_logits_[0]);
  EXPECT_TRUE(c.ok()) << c.summary();
  EXPECT_EQ(argmax(logits, 0, 10), torch_preds_[0]);

  cmd = "'" + bin.string() + "' inspect '" + dir_ + "/digits_cnn.onnx' > '" + log + "' 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << read_text(log);
}

}  // namespace
