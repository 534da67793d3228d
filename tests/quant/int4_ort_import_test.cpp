// Importing INT4 models written by ONNX Runtime's own tool (onnxruntime.quantization.matmul_nbits_quantizer,
// QOperator format): the file is built here by hand exactly as that tool lays it out (initializers
// <B>_Q4 uint8 [N, k_blocks, block_size/2], <B>_scales float [N * k_blocks] (1-D), <B>_zero_points uint8
// [N * ceil(k_blocks / 2)] (1-D, low nibble = even block) only when asymmetric, node <name>_Q4 with K, N,
// bits=4, block_size, accuracy_level), and with ORT's rounding (symmetric: scale = signed max-|w| / -8, so
// scales are negative for half the blocks, zero point 8 implied; asymmetric: range [min(w,0), max(w,0)] / 15,
// zero point round(-min / scale)). Plus the optional-input conventions other writers use: g_idx (the
// trivial k / block_size one, and a permuted one), and "" for an omitted zero_points before g_idx; packed
// zero points of an odd block count (the last byte half used).
// joule must run it, match the dequantized float math, and match ONNX Runtime's output on the same file
// (skipped when the ORT peer is not installed).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "joule/session.h"
#include "onnx_import/onnx_import.h"
#include "runtime/ir/graph.h"

namespace fs = std::filesystem;
using namespace joule;

namespace {

struct OrtQuantized {
  Tensor b, scales, zero_points;  // zero_points undefined when symmetric
  std::vector<float> w;           // dequantized W^T [N][K] as ORT computes it
};

// ORT's blockwise 4-bit quantization of W [K][N] (column n, block b = W[b*bs .. b*bs+bs)[n]).
OrtQuantized ort_quantize(const std::vector<float>& w, int64_t k, int64_t n, int64_t bs, bool symmetric) {
  const int64_t kb = (k + bs - 1) / bs, zp_row = (kb + 1) / 2;
  OrtQuantized q;
  q.b = Tensor(DType::kU8, {n, kb, bs / 2});
  q.scales = Tensor(DType::kF32, {n * kb});
  if (!symmetric) q.zero_points = Tensor(DType::kU8, {n * zp_row});
  std::fill(q.b.data<uint8_t>(), q.b.data<uint8_t>() + q.b.numel(), 0);
  if (!symmetric) std::fill(q.zero_points.data<uint8_t>(), q.zero_points.data<uint8_t>() + q.zero_points.numel(), 0);
  q.w.assign(static_cast<size_t>(n * k), 0.0f);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t blk = 0; blk < kb; ++blk) {
      const int64_t k0 = blk * bs, k1 = std::min(k, k0 + bs);
      float scale, zp;
      if (symmetric) {
        float vmax = 0;
        for (int64_t r = k0; r < k1; ++r)
          if (std::fabs(w[r * n + c]) > std::fabs(vmax)) vmax = w[r * n + c];
        scale = vmax / -8.0f;
        zp = 8;
      } else {
        float lo = 0, hi = 0;
        for (int64_t r = k0; r < k1; ++r) lo = std::min(lo, w[r * n + c]), hi = std::max(hi, w[r * n + c]);
        scale = (hi - lo) / 15.0f;
        zp = scale != 0 ? std::clamp(std::round(-lo / scale), 0.0f, 15.0f) : 8.0f;
        q.zero_points.data<uint8_t>()[c * zp_row + blk / 2] |= static_cast<uint8_t>(static_cast<int>(zp) << ((blk & 1) * 4));
      }
      q.scales.data<float>()[c * kb + blk] = scale;
      const float inv = scale != 0 ? 1.0f / scale : 0.0f;
      for (int64_t r = k0; r < k1; ++r) {
        const int code = static_cast<int>(std::clamp(std::round(w[r * n + c] * inv) + zp, 0.0f, 15.0f));
        q.b.data<uint8_t>()[(c * kb + blk) * (bs / 2) + (r - k0) / 2] |= static_cast<uint8_t>(code << ((r & 1) * 4));
        q.w[static_cast<size_t>(c * k + r)] = (static_cast<float>(code) - zp) * scale;
      }
    }
  return q;
}

struct Layer {
  const char* name;
  int64_t k, n, block;
  bool symmetric;
  enum { kNoGidx, kTrivialGidx, kPermutedGidx } g_idx;
};

int sh(const std::string& cmd, const std::string& log) {
  int rc = std::system((cmd + " > '" + log + "' 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

TEST(Int4OrtImport, RunsOrtToolLayoutAndMatchesOrt) {
  const std::string work = std::string(JOULE_BINARY_DIR) + "/int4_ort_import_" + std::to_string(::getpid());
  fs::create_directories(work + "/in");
  // X [1, 17, 100] -> fc1 (asym, block 16, K padded 100 -> 112, odd k_blocks 7) -> Relu -> fc2 (sym, block 32, K 48,
  // trivial g_idx after a "" zero_points) -> Relu -> fc3 (sym, block 16, permuted g_idx). g_idx only on
  // symmetric layers: ONNX Runtime 1.30's CPU kernel ignores packed uint8 zero points when g_idx is present
  // (its output equals zero point 8), joule applies them as the format specifies.
  const Layer layers[] = {{"fc1", 100, 48, 16, false, Layer::kNoGidx},
                          {"fc2", 48, 33, 32, true, Layer::kTrivialGidx},
                          {"fc3", 33, 5, 16, true, Layer::kPermutedGidx}};
  std::vector<std::vector<float>> deq;
  std::vector<std::vector<int32_t>> gidx;
  for (const char* level : {"0", "4"}) {
    ir::Graph g;
    g.opset_imports[""] = 17;
    g.opset_imports["com.microsoft"] = 1;
    ir::Value* x = g.add_value("x");
    x->desc = ir::TensorDesc::known(DType::kF32, {1, 17, 100});
    g.inputs.push_back(x);
    ir::Value* h = x;
    std::mt19937 wrng(62);  // same weights for both levels
    std::normal_distribution<float> nd(0.0f, 0.2f);
    deq.clear();
    gidx.clear();
    for (const Layer& l : layers) {
      std::vector<float> w(static_cast<size_t>(l.k * l.n));
      for (float& v : w) v = nd(wrng);
      OrtQuantized q = ort_quantize(w, l.k, l.n, l.block, l.symmetric);
      const std::string bn = std::string(l.name) + ".weight";
      std::vector<ir::Value*> ins = {h, g.add_constant(bn + "_Q4", q.b), g.add_constant(bn + "_scales", q.scales)};
      if (!l.symmetric) ins.push_back(g.add_constant(bn + "_zero_points", q.zero_points));
      std::vector<int32_t> gi;
      if (l.g_idx != Layer::kNoGidx) {
        const int64_t kb = (l.k + l.block - 1) / l.block;
        Tensor t(DType::kI32, {l.k});
        for (int64_t i = 0; i < l.k; ++i)
          t.data<int32_t>()[i] = static_cast<int32_t>(l.g_idx == Layer::kTrivialGidx ? i / l.block : (i * 7) % kb);
        gi.assign(t.data<int32_t>(), t.data<int32_t>() + l.k);
        if (l.symmetric) ins.push_back(nullptr);  // "" for the omitted zero_points
        ins.push_back(g.add_constant(bn + "_g_idx", t));
        if (l.g_idx == Layer::kPermutedGidx) {  // the codes of k were quantized with block k / bs: re-derive W
          for (int64_t c = 0; c < l.n; ++c)
            for (int64_t r = 0; r < l.k; ++r) {
              const int64_t kb2 = (l.k + l.block - 1) / l.block, blk = gi[static_cast<size_t>(r)];
              const uint8_t byte = q.b.data<uint8_t>()[(c * kb2 + r / l.block) * (l.block / 2) + (r % l.block) / 2];
              const int code = (r & 1) ? byte >> 4 : byte & 15;
              int zp = 8;
              if (!l.symmetric) {
                const uint8_t zb = q.zero_points.data<uint8_t>()[c * ((kb2 + 1) / 2) + blk / 2];
                zp = (blk & 1) ? zb >> 4 : zb & 15;
              }
              q.w[static_cast<size_t>(c * l.k + r)] = static_cast<float>(code - zp) * q.scales.data<float>()[c * kb2 + blk];
            }
        }
      }
      ir::Value* y = g.add_value(std::string(l.name) + "_out");
      ir::Node* node = g.add_node("MatMulNBits", ins, {y}, std::string(l.name) + "/MatMul_Q4", "com.microsoft");
      node->opset = 1;
      node->attrs["K"] = ir::Attribute::of_int(l.k);
      node->attrs["N"] = ir::Attribute::of_int(l.n);
      node->attrs["bits"] = ir::Attribute::of_int(4);
      node->attrs["block_size"] = ir::Attribute::of_int(l.block);
      node->attrs["accuracy_level"] = ir::Attribute::of_int(std::atoi(level));
      h = y;
      if (&l != &layers[2]) {
        ir::Value* r = g.add_value(std::string(l.name) + "_relu");
        g.add_node("Relu", {h}, {r}, std::string(l.name) + "/Relu")->opset = 17;
        h = r;
      }
      deq.push_back(q.w);
      gidx.push_back(gi);
    }
    g.outputs.push_back(h);
    const std::string model = work + "/ort_tool_l" + level + ".onnx";
    ASSERT_TRUE(onnx_import::export_model(g, model).is_ok());

    Tensor in(DType::kF32, {1, 17, 100});
    std::normal_distribution<float> xd(0.0f, 1.0f);
    std::mt19937 xrng(63);
    for (int64_t i = 0; i < in.numel(); ++i) in.data<float>()[i] = xd(xrng);
    ASSERT_TRUE(onnx_import::save_tensor_pb(in, "x", work + "/in/input_0.pb").is_ok());
    auto session = Session::load(model);
    Tensor mine = session->run(std::vector<Tensor>{in})[0];
    ASSERT_EQ(mine.numel(), 17 * 5);

    // Float math on the dequantized weights (double).
    std::vector<double> act(in.data<float>(), in.data<float>() + in.numel());
    int64_t width = 100;
    for (size_t li = 0; li < 3; ++li) {
      const Layer& l = layers[li];
      std::vector<double> next(static_cast<size_t>(17 * l.n));
      for (int64_t i = 0; i < 17; ++i)
        for (int64_t c = 0; c < l.n; ++c) {
          double s = 0;
          for (int64_t r = 0; r < l.k; ++r) s += act[static_cast<size_t>(i * width + r)] * deq[li][static_cast<size_t>(c * l.k + r)];
          next[static_cast<size_t>(i * l.n + c)] = li < 2 ? std::max(s, 0.0) : s;
        }
      act = next;
      width = l.n;
    }
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < mine.numel(); ++i) {
      worst = std::max(worst, std::fabs(mine.data<float>()[i] - act[static_cast<size_t>(i)]));
      scale = std::max(scale, std::fabs(act[static_cast<size_t>(i)]));
    }
    // Level 0: float activations (1e-5); level 4: int8 activations per block of 16-32 (a few 1e-3).
    EXPECT_LE(worst, (std::string(level) == "0" ? 1e-5 : 2e-2) * scale) << "accuracy_level " << level;
    std::printf("[ int4 ort import ] accuracy_level %s: max |joule - float math| %.3g (max |y| %.3g)\n", level, worst, scale);

    if (!fs::exists(std::string(JOULE_SOURCE_DIR) + "/bench/peer/node_modules/onnxruntime-node")) continue;
    const std::string out_dir = work + "/ort_out_" + level;
    ASSERT_EQ(sh("node '" + std::string(JOULE_SOURCE_DIR) + "/bench/peer/ort_run.js' '" + model + "' --inputs '" + work +
                     "/in' --outputs '" + out_dir + "' --threads 1",
                 work + "/ort.log"),
              0)
        << "ORT failed on " << model << " (see " << work << "/ort.log)";
    Tensor ort;
    ASSERT_TRUE(onnx_import::load_tensor_pb(out_dir + "/output_0.pb", ort).is_ok());
    ASSERT_EQ(ort.numel(), mine.numel());
    double diff = 0;
    for (int64_t i = 0; i < ort.numel(); ++i) diff = std::max(diff, double(std::fabs(mine.data<float>()[i] - ort.data<float>()[i])));
    // Level 0: both float. Level 4: both quantize A to int8 per block; rounding ties and order may differ.
    EXPECT_LE(diff, (std::string(level) == "0" ? 1e-5 : 2e-2) * scale) << "accuracy_level " << level;
    std::printf("[ int4 ort import ] accuracy_level %s: max |joule - ORT| %.3g\n", level, diff);
  }
  const bool have_ort = fs::exists(std::string(JOULE_SOURCE_DIR) + "/bench/peer/node_modules/onnxruntime-node");
  fs::remove_all(work);
  if (!have_ort) GTEST_SKIP() << "joule matched the float math; ORT peer not installed (bench/peer/install_ort.sh)";
}
