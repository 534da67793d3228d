// Block-wise INT4 rounding of W[N][K] along K: round-to-nearest, and GPTQ (Frantar et al. 2022): columns are
// quantized left to right and each column's rounding error, weighted by the inverse Hessian of the layer
// input, is pushed onto the columns not yet quantized, so X Wq^T stays close to X W^T on the calibration data.
//
// Block parameters: symmetric: scale = v* / -8 where v* is the value of largest magnitude (it maps to code 0,
// the rest to round(v/scale) + 8 clamped to [0, 15]); asymmetric: scale = (max - min) / 15 over [min(v,0),
// max(v,0)], zero point round(-min/scale). Dequantized: (code - zp) * scale.
#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "quant/int4_quantize.h"

namespace joule::quant {

namespace {

struct BlockParams {
  float scale = 0, inv = 0;
  int zp = 8;
};

BlockParams block_params(const float* v, int64_t len, int64_t stride, bool asym) {
  BlockParams p;
  if (asym) {
    float mn = 0, mx = 0;
    for (int64_t i = 0; i < len; ++i) {
      mn = std::min(mn, v[i * stride]);
      mx = std::max(mx, v[i * stride]);
    }
    p.scale = (mx - mn) / 15.0f;
    p.zp = p.scale > 0 ? static_cast<int>(std::clamp(std::nearbyint(-mn / p.scale), 0.0f, 15.0f)) : 8;
  } else {
    float best = 0;
    for (int64_t i = 0; i < len; ++i)
      if (std::fabs(v[i * stride]) > std::fabs(best)) best = v[i * stride];
    p.scale = best / -8.0f;
    p.zp = 8;
  }
  p.inv = p.scale != 0 ? 1.0f / p.scale : 0.0f;
  return p;
}

inline int code_of(float v, const BlockParams& p) {
  return static_cast<int>(std::clamp(std::nearbyint(v * p.inv) + static_cast<float>(p.zp), 0.0f, 15.0f));
}

void init_out(int64_t n, int64_t k, const Int4Options& opts, Int4Weights& out) {
  out.n = n;
  out.k = k;
  out.block = opts.block;
  out.k_blocks = (k + opts.block - 1) / opts.block;
  out.codes.assign(static_cast<size_t>(n * out.k_blocks * opts.block / 2), 0);
  out.scales.assign(static_cast<size_t>(n * out.k_blocks), 0.0f);
  out.zero_points.clear();
  if (opts.asym) out.zero_points.assign(static_cast<size_t>(n * ((out.k_blocks + 1) / 2)), 0);
}

void set_params(Int4Weights& out, int64_t row, int64_t blk, const BlockParams& p) {
  out.scales[static_cast<size_t>(row * out.k_blocks + blk)] = p.scale;
  if (!out.zero_points.empty())
    out.zero_points[static_cast<size_t>(row * ((out.k_blocks + 1) / 2) + blk / 2)] |= static_cast<uint8_t>(p.zp << (4 * (blk & 1)));
}

void set_code(Int4Weights& out, int64_t row, int64_t col, int code) {
  size_t i = static_cast<size_t>((row * out.k_blocks + col / out.block) * (out.block / 2) + (col % out.block) / 2);
  out.codes[i] |= static_cast<uint8_t>(code << (4 * (col & 1)));
}

void quantize_rtn(const float* w, int64_t n, int64_t k, const Int4Options& opts, Int4Weights& out) {
  for (int64_t r = 0; r < n; ++r)
    for (int64_t b = 0; b < out.k_blocks; ++b) {
      int64_t c0 = b * opts.block, len = std::min(opts.block, k - c0);
      BlockParams p = block_params(w + r * k + c0, len, 1, opts.asym);
      set_params(out, r, b, p);
      for (int64_t c = c0; c < c0 + len; ++c) set_code(out, r, c, code_of(w[r * k + c], p));
    }
}

using MatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

// Upper Cholesky factor U of H^-1 (H^-1 = U^T U) after dampening; false when H stays singular.
bool inverse_hessian_factor(const LayerHessian& hs, double damp, std::vector<bool>& dead, MatF& u) {
  const int64_t k = hs.k;
  MatD h = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(hs.h.data(), k, k);
  dead.assign(static_cast<size_t>(k), false);
  for (int64_t i = 0; i < k; ++i)
    if (h(i, i) <= 0) {
      dead[static_cast<size_t>(i)] = true;
      h(i, i) = 1;
    }
  double mean_diag = h.diagonal().mean();
  for (int attempt = 0; attempt < 4; ++attempt, damp *= 10) {
    MatD hd = h;
    hd.diagonal().array() += damp * mean_diag;
    Eigen::LLT<MatD> llt(hd);
    if (llt.info() != Eigen::Success) continue;
    MatD hinv = llt.solve(MatD::Identity(k, k));
    Eigen::LLT<MatD> llt2(hinv);
    if (llt2.info() != Eigen::Success) continue;
    u = MatD(llt2.matrixU()).cast<float>();
    return true;
  }
  return false;
}

void quantize_gptq(const float* w, int64_t n, int64_t k, const Int4Options& opts, const MatF& u,
                   const std::vector<bool>& dead, Int4Weights& out) {
  MatF wm(n, k);  // W[N][K], column-major: one column per input channel
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) wm(r, c) = dead[static_cast<size_t>(c)] ? 0.0f : w[r * k + c];
  const int64_t lazy = std::max<int64_t>(128, opts.block);  // a multiple of the block: groups never straddle it
  std::vector<BlockParams> params(static_cast<size_t>(n));
  for (int64_t i1 = 0; i1 < k; i1 += lazy) {
    const int64_t i2 = std::min(i1 + lazy, k), cnt = i2 - i1;
    MatF w1 = wm.middleCols(i1, cnt);
    MatF err1(n, cnt);
    for (int64_t j = 0; j < cnt; ++j) {
      const int64_t c = i1 + j;
      if (c % opts.block == 0) {
        const int64_t len = std::min(opts.block, k - c);
        for (int64_t r = 0; r < n; ++r) {
          params[static_cast<size_t>(r)] = block_params(&w1(r, j), len, n, opts.asym);
          set_params(out, r, c / opts.block, params[static_cast<size_t>(r)]);
        }
      }
      const float d = u(c, c);
      for (int64_t r = 0; r < n; ++r) {
        const BlockParams& p = params[static_cast<size_t>(r)];
        int q = code_of(w1(r, j), p);
        set_code(out, r, c, q);
        float deq = static_cast<float>(q - p.zp) * p.scale;
        err1(r, j) = (w1(r, j) - deq) / d;
      }
      if (j + 1 < cnt)
        w1.rightCols(cnt - j - 1).noalias() -= err1.col(j) * u.block(c, c + 1, 1, cnt - j - 1);
    }
    if (i2 < k) wm.rightCols(k - i2).noalias() -= err1 * u.block(i1, i2, cnt, k - i2);
  }
}

}  // namespace

Status parse_int4_method(const std::string& s, Int4Method& out) {
  if (s == "rtn") out = Int4Method::kRtn;
  else if (s == "gptq") out = Int4Method::kGptq;
  else return invalid_argument("unknown INT4 method '" + s + "' (choose rtn or gptq)");
  return Status::ok();
}

const char* int4_method_name(Int4Method m) { return m == Int4Method::kGptq ? "gptq" : "rtn"; }

std::vector<float> Int4Weights::dequantize() const {
  std::vector<float> w(static_cast<size_t>(n * k));
  const int64_t zp_row = (k_blocks + 1) / 2;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) {
      int64_t b = c / block;
      uint8_t byte = codes[static_cast<size_t>((r * k_blocks + b) * (block / 2) + (c % block) / 2)];
      int q = (c & 1) ? byte >> 4 : byte & 15;
      int zp = 8;
      if (!zero_points.empty()) {
        uint8_t zb = zero_points[static_cast<size_t>(r * zp_row + b / 2)];
        zp = (b & 1) ? zb >> 4 : zb & 15;
      }
      w[static_cast<size_t>(r * k + c)] = static_cast<float>(q - zp) * scales[static_cast<size_t>(r * k_blocks + b)];
    }
  return w;
}

Status quantize_int4_weights(const float* w, int64_t n, int64_t k, const Int4Options& opts, const LayerHessian* hessian,
                             Int4Weights& out) {
  if (opts.block < 16 || opts.block > 256 || (opts.block & (opts.block - 1)) != 0)
    return invalid_argument("INT4 block size must be 16, 32, 64, 128 or 256, got " + std::to_string(opts.block));
  if (n <= 0 || k <= 0) return invalid_argument("INT4 weight must be non-empty");
  init_out(n, k, opts, out);
  if (opts.method == Int4Method::kGptq && hessian && hessian->k == k && hessian->rows > 0) {
    MatF u;
    std::vector<bool> dead;
    if (inverse_hessian_factor(*hessian, opts.damp, dead, u)) {
      quantize_gptq(w, n, k, opts, u, dead, out);
      return Status::ok();
    }
  }
  quantize_rtn(w, n, k, opts, out);
  return Status::ok();
}

double int4_relative_error(const float* w, const Int4Weights& q, const LayerHessian& hs) {
  if (hs.k != q.k || hs.rows == 0) return -1;
  const int64_t n = q.n, k = q.k;
  std::vector<float> dq = q.dequantize();
  MatD wm(n, k), dm(n, k);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) {
      wm(r, c) = w[r * k + c];
      dm(r, c) = static_cast<double>(w[r * k + c]) - dq[static_cast<size_t>(r * k + c)];
    }
  auto h = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(hs.h.data(), k, k);
  double num = (dm * h).cwiseProduct(dm).sum(), den = (wm * h).cwiseProduct(wm).sum();
  return den > 0 ? std::sqrt(std::max(num, 0.0) / den) : 0.0;
}

}  // namespace joule::quant
