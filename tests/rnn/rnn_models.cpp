// Recurrent model tests (issue 9) on the models tests/models/make_rnn_models.py exports: joule vs
// PyTorch float64 and vs ONNX Runtime (when bench/peer has it) within 1e-5, and streaming: 100 chunks
// fed one at a time with the state outputs fed back as inputs match one call over the whole sequence.
#include <gtest/gtest.h>

#include <filesystem>

#include "joule/session.h"
#include "tests/e2e/e2e_util.h"

using namespace joule;
using namespace joule::e2e;

namespace {

class RnnModel : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    if (!models_available(why)) GTEST_SKIP() << why;
    dir_ = std::string(kE2eModelsDir) + "/" + GetParam();
    std::string err = load_case(dir_, case_);
    ASSERT_TRUE(err.empty()) << err;
  }
  std::string dir_;
  TestCase case_;
};

TEST_P(RnnModel, MatchesFloat64AndOnnxRuntime) {
  std::vector<Tensor> outs;
  std::string err = run_joule(dir_ + "/model.onnx", case_.inputs, 1, outs);
  ASSERT_TRUE(err.empty()) << err;
  ASSERT_EQ(outs.size(), case_.ref64.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    Comparison c = compare_to_reference(outs[i], case_.ref64[i]);
    EXPECT_TRUE(c.ok(1e-5)) << GetParam() << " output " << i << " vs float64: " << c.summary();
  }
  std::string why;
  if (!ort_peer_available(why)) GTEST_SKIP() << why;
  std::vector<Tensor> ort;
  err = run_ort_peer(dir_ + "/model.onnx", dir_ + "/test_data_set_0", std::string(kBinaryDir) + "/rnn_ort_" + GetParam(),
                     outs.size(), ort);
  ASSERT_TRUE(err.empty()) << err;
  for (size_t i = 0; i < outs.size(); ++i) {
    Comparison c = compare_to_reference(outs[i], ort[i]);
    EXPECT_TRUE(c.ok(1e-5)) << GetParam() << " output " << i << " vs ONNX Runtime: " << c.summary();
  }
}

INSTANTIATE_TEST_SUITE_P(Models, RnnModel, ::testing::Values("lstm_classifier", "gru_classifier", "kws_stream"));

// frames [1, T, F] split into `chunks` equal pieces along T.
class RnnStreaming : public RnnModel {};

TEST_P(RnnStreaming, HundredChunksMatchOneCall) {
  std::unique_ptr<Session> sess;
  SessionOptions opts;
  opts.threads = 1;
  Status st = Session::create(dir_ + "/model.onnx", opts, sess);
  ASSERT_TRUE(st.is_ok()) << st.message();
  std::vector<Tensor> whole;
  st = sess->run(case_.inputs, whole);
  ASSERT_TRUE(st.is_ok()) << st.message();

  const Tensor& frames = case_.inputs[0].second;  // [1, T, F]
  const int64_t T = frames.dim(1), F = frames.dim(2), chunks = 100;
  ASSERT_EQ(T % chunks, 0);
  const int64_t step = T / chunks, classes = whole[0].dim(2);
  Tensor logits(DType::kF32, {1, T, classes});
  NamedTensors feed = case_.inputs;
  for (int64_t k = 0; k < chunks; ++k) {
    feed[0].second = slice_flat(frames, k * step * F, step * F).reshaped({1, step, F});
    std::vector<Tensor> out;
    st = sess->run(feed, out);
    ASSERT_TRUE(st.is_ok()) << st.message();
    std::copy(out[0].data<float>(), out[0].data<float>() + step * classes, logits.data<float>() + k * step * classes);
    for (size_t s = 1; s < out.size(); ++s) feed[s].second = out[s];  // state outputs -> next call's inputs
  }
  Comparison c = compare_to_reference(logits, whole[0]);
  EXPECT_TRUE(c.ok(1e-5)) << "chunked logits: " << c.summary();
  for (size_t s = 1; s < whole.size(); ++s) {
    c = compare_to_reference(feed[s].second, whole[s]);
    EXPECT_TRUE(c.ok(1e-5)) << "final state " << s << ": " << c.summary();
  }
}

INSTANTIATE_TEST_SUITE_P(Models, RnnStreaming, ::testing::Values("lstm_classifier", "gru_classifier"));

}  // namespace
