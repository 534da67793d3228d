// MatMulNBits (4-bit weights) on the AVX2 / AVX-512 micro-kernels of matmul_nbits_f32.h. prepare repacks the
// constant codes, scales and zero points into 16-column panels; run takes, per row count M:
//   M < kGemmRows: GEMV, one row at a time, panels split over the threads (decode in registers);
//   otherwise:     GEMM, A packed once, then per group of panels (NR columns of the f32 micro-kernel) the
//                  panel is dequantized into per-thread scratch [K][NR] and multiplied with all M rows.
// Every output element is computed by one thread in a fixed order: 1 and N threads agree bitwise.
// A, scales and bias may be f32 or f16 (converted to f32 at the edges); a g_idx other than k / block_size is
// left to the reference.
// accuracy_level 4 (ONNX Runtime's "int8 compute") with M >= kGemmRows: int8 activations per row and block,
// u8 x s8 integer tiles (matmul_nbits_q8__avx2.cpp, vpdpbusd on VNNI CPUs); not exact, so tested against a
// simulation.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>

#include "kernels/cpu/gemm_f32.h"
#include "kernels/cpu/matmul_nbits_f32.h"
#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/ops/matmul_nbits_format.h"

namespace joule::kernels::cpu {
namespace {

constexpr int64_t kGemmRows = 4;

struct NbitsKernel {
  Isa isa;
  const char* name;
  void (*gemv)(const Int4Panels&, const float*, float*, int64_t, int64_t);
  void (*dequant)(const Int4Panels&, int64_t, int64_t, int64_t, float*);
};

const NbitsKernel kKernels[] = {
    {Isa::kAvx2, "matmul_nbits_f32__avx2", matmul_nbits_gemv_f32__avx2, matmul_nbits_dequant_panel_f32__avx2},
    {Isa::kAvx512, "matmul_nbits_f32__avx512", matmul_nbits_gemv_f32__avx512, matmul_nbits_dequant_panel_f32__avx512},
};

float as_float(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kF16 ? static_cast<float>(t.data<Half>()[i]) : t.data<float>()[i];
}

bool is_float(DType t) { return t == DType::kF32 || t == DType::kF16; }

void f16_to_f32(const Half* src, float* dst, int64_t n) {
  if (cpu_features().f16c) {
    matmul_nbits_f16_to_f32__avx2(reinterpret_cast<const uint16_t*>(src), dst, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

bool nbits_accepts(const KernelQuery& q) {
  ops::MatMulNBitsShape s;
  if (!ops::MatMulNBitsShape::from_node(q.node, s).is_ok()) return false;
  auto cst = [&](size_t i) { return i < q.constant_inputs.size() ? q.constant_inputs[i] : nullptr; };
  auto present = [&](size_t i) { return i < q.node.inputs.size() && q.node.inputs[i] != nullptr; };
  if (!q.inputs.empty() && q.inputs[0].dtype != DType::kUndefined && !is_float(q.inputs[0].dtype)) return false;
  const Tensor *b = cst(1), *sc = cst(2);
  if (!b || !sc || b->dtype() != DType::kU8 || !is_float(sc->dtype())) return false;
  if (b->numel() != s.n * s.k_blocks * s.blob || sc->numel() != s.n * s.k_blocks) return false;
  if (present(3)) {
    const Tensor* zp = cst(3);
    if (!zp) return false;
    if (zp->dtype() == DType::kU8 ? zp->numel() != s.n * s.zp_row : (!is_float(zp->dtype()) || zp->numel() != s.n * s.k_blocks))
      return false;
  }
  if (present(4)) {  // g_idx: only the trivial k / block_size (some writers store it); any other: reference
    const Tensor* gi = cst(4);
    if (!gi || gi->dtype() != DType::kI32 || gi->numel() != s.k) return false;
    for (int64_t k = 0; k < s.k; ++k)
      if (gi->data<int32_t>()[k] != k / s.block) return false;
  }
  return true;
}

Status nbits_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  ops::MatMulNBitsShape s;
  JOULE_RETURN_IF_ERROR(ops::MatMulNBitsShape::from_node(q.node, s));
  const Tensor& b = *q.constant_inputs[1];
  const Tensor& sc = *q.constant_inputs[2];
  const Tensor* zp = q.constant_inputs.size() > 3 ? q.constant_inputs[3] : nullptr;
  auto w = std::make_shared<Int4Panels>();
  w->k = s.k;
  w->n = s.n;
  w->block = s.block;
  w->k_blocks = s.k_blocks;
  w->k_pad = s.k_blocks * s.block;
  w->panels = (s.n + kNbitsPanel - 1) / kNbitsPanel;
  w->codes.assign(static_cast<size_t>(w->panels * w->k_pad * 8), 0);
  w->scales.assign(static_cast<size_t>(w->panels * s.k_blocks * kNbitsPanel), 0.0f);
  w->zeros.assign(w->scales.size(), 0.0f);
  const uint8_t* codes = b.data<uint8_t>();
  for (int64_t n = 0; n < s.n; ++n) {
    const int64_t p = n / kNbitsPanel, col = n % kNbitsPanel;
    for (int64_t k = 0; k < s.k; ++k)
      w->codes[static_cast<size_t>((p * w->k_pad + k) * 8 + col % 8)] |=
          static_cast<uint8_t>(ops::nbits_code(codes, s, n, k) << (col >= 8 ? 4 : 0));
    for (int64_t blk = 0; blk < s.k_blocks; ++blk) {
      const size_t i = static_cast<size_t>((p * s.k_blocks + blk) * kNbitsPanel + col);
      w->scales[i] = as_float(sc, n * s.k_blocks + blk);
      float z = 8.0f;
      if (zp && zp->dtype() == DType::kU8) z = ops::nbits_packed_zero_point(zp->data<uint8_t>(), s, n, blk);
      else if (zp) z = as_float(*zp, n * s.k_blocks + blk);
      w->zeros[i] = z;
    }
  }
  // Integer zero points: the wide VNNI tile's start values corr (padding codes 0 count as code - zero too, as
  // the unpacked s8 panel has them).
  w->int_zeros = std::all_of(w->zeros.begin(), w->zeros.end(),
                             [](float z) { return z >= 0.0f && z <= 15.0f && z == std::nearbyint(z); });
  if (w->int_zeros) {
    w->corr.assign(w->scales.size(), 0);
    for (int64_t p = 0; p < w->panels; ++p)
      for (int64_t blk = 0; blk < s.k_blocks; ++blk)
        for (int64_t col = 0; col < kNbitsPanel; ++col) {
          const size_t i = static_cast<size_t>((p * s.k_blocks + blk) * kNbitsPanel + col);
          const int32_t z = static_cast<int32_t>(w->zeros[i]);
          int32_t sum = 0;
          for (int64_t k = blk * s.block; k < (blk + 1) * s.block; ++k) {
            const uint8_t byte = w->codes[static_cast<size_t>((p * w->k_pad + k) * 8 + col % 8)];
            sum += (col >= 8 ? byte >> 4 : byte & 15) - z;
          }
          w->corr[i] = -128 * sum;
        }
  }
  state = w;
  return Status::ok();
}

// accuracy_level 4: A quantized to int8 per row and block (matmul_nbits_f32.h). Wide AVX-512 VNNI tiles (8x16,
// s8 weights, u8 activations) when the CPU has VNNI and the zero points are integers, else 4x16 tiles
// (vpmaddubsw or vpdpbusd on ymm).
template <class Parallel>
void run_q8(const Int4Panels& w, NbitsQ8Tile q8_tile, bool wide, const float* a, int64_t m, const float* bias,
            float* y, Parallel& parallel) {
  const int64_t k = w.k, kb = w.k_blocks, n = w.n;
  const int64_t rows = wide ? kNbitsQ8WideRows : kNbitsQ8Rows;
  thread_local std::vector<int8_t> aq;
  thread_local std::vector<float> sa, asum;
  aq.resize(static_cast<size_t>(m * w.k_pad));
  sa.resize(static_cast<size_t>(m * kb));
  asum.resize(static_cast<size_t>(m * kb));
  int8_t* aqp = aq.data();
  float *sap = sa.data(), *asump = asum.data();
  parallel(m, [&](int64_t i0, int64_t i1) {
    matmul_nbits_quantize_rows_q8__avx2(a, k, w.block, kb, w.k_pad, i0, i1, aqp, sap, asump, wide);
  });
  auto store = [&](const float* tile, int64_t ld, int64_t i0, int64_t mr, int64_t j0, int64_t cols) {
    const int64_t nv = std::min<int64_t>(cols, n - j0);
    for (int64_t r = 0; r < mr; ++r) {
      float* __restrict yr = y + (i0 + r) * n + j0;
      const float* __restrict tr = tile + r * ld;
      if (bias && nv == kNbitsPanel) {
        const float* __restrict br = bias + j0;
        for (int64_t j = 0; j < kNbitsPanel; ++j) yr[j] = tr[j] + br[j];  // vectorized: fixed trip count
      } else if (bias && nv == 2 * kNbitsPanel) {
        const float* __restrict br = bias + j0;
        for (int64_t j = 0; j < 2 * kNbitsPanel; ++j) yr[j] = tr[j] + br[j];
      } else if (bias) {
        for (int64_t j = 0; j < nv; ++j) yr[j] = tr[j] + bias[j0 + j];
      } else {
        std::copy(tr, tr + nv, yr);
      }
    }
  };
  const char* tile_env = std::getenv("JOULE_NBITS_Q8_TILE");  // "8x16": wide tiles, one panel at a time
  const bool pairs = wide && !(tile_env && std::string(tile_env) == "8x16");
  parallel(w.panels, [&](int64_t p0, int64_t p1) {
    thread_local std::vector<uint8_t> wq_buf;
    wq_buf.resize(static_cast<size_t>(2 * w.k_pad * 16 + 64));
    uint8_t* wq = wq_buf.data() + (64 - reinterpret_cast<uintptr_t>(wq_buf.data()) % 64) % 64;  // 64-byte aligned
    alignas(64) float tile[std::max(kNbitsQ8WideRows * kNbitsPanel, kNbitsQ8Wide2Rows * 2 * kNbitsPanel)];
    for (int64_t p = p0; p < p1;) {
      if (pairs && p + 1 < p1) {  // two panels: 6 x 32 tiles
        matmul_nbits_unpack_panel_s8__avx512vnni(w, p, reinterpret_cast<int8_t*>(wq));
        matmul_nbits_unpack_panel_s8__avx512vnni(w, p + 1, reinterpret_cast<int8_t*>(wq + w.k_pad * 16));
        for (int64_t i0 = 0; i0 < m; i0 += kNbitsQ8Wide2Rows) {
          const int64_t mr = std::min(kNbitsQ8Wide2Rows, m - i0);
          matmul_nbits_q8_wide2_tile__avx512vnni(w, p, reinterpret_cast<const int8_t*>(wq),
                                                 reinterpret_cast<const uint8_t*>(aqp + i0 * w.k_pad), w.k_pad,
                                                 sap + i0 * kb, mr, tile);
          store(tile, 2 * kNbitsPanel, i0, mr, p * kNbitsPanel, 2 * kNbitsPanel);
        }
        p += 2;
        continue;
      }
      if (wide) matmul_nbits_unpack_panel_s8__avx512vnni(w, p, reinterpret_cast<int8_t*>(wq));
      else matmul_nbits_unpack_panel_u8__avx2(w, p, wq);
      for (int64_t i0 = 0; i0 < m; i0 += rows) {
        const int64_t mr = std::min(rows, m - i0);
        if (wide)
          matmul_nbits_q8_wide_tile__avx512vnni(w, p, reinterpret_cast<const int8_t*>(wq),
                                                reinterpret_cast<const uint8_t*>(aqp + i0 * w.k_pad), w.k_pad,
                                                sap + i0 * kb, mr, tile);
        else
          q8_tile(w, p, wq, aqp + i0 * w.k_pad, w.k_pad, sap + i0 * kb, asump + i0 * kb, mr, tile);
        store(tile, kNbitsPanel, i0, mr, p * kNbitsPanel, kNbitsPanel);
      }
      ++p;
    }
  });
}

template <int I>
Status nbits_run(KernelContext& ctx) {
  const NbitsKernel& kern = kKernels[I];
  auto* w = static_cast<const Int4Panels*>(ctx.state);
  if (!w) return ctx.fail("MatMulNBits weights were not prepared (B, scales and zero_points must be constants)");
  const Tensor& ta = ctx.in(0);
  Tensor& ty = ctx.out(0);
  if (!is_float(ta.dtype())) return ctx.fail_unsupported("A must be float32 or float16");
  if (ta.rank() < 1 || ta.shape().back() != w->k) return ctx.fail("A's last dim is not K=" + std::to_string(w->k));
  const int64_t k = w->k, n = w->n, m = ta.numel() / std::max<int64_t>(k, 1);
  // f16 edges: A, bias and Y through f32 scratch.
  thread_local std::vector<float> a32, y32, bias32;
  const float* a = nullptr;
  if (ta.dtype() == DType::kF32) {
    a = ta.data<float>();
  } else {
    a32.resize(static_cast<size_t>(ta.numel()));
    f16_to_f32(ta.data<Half>(), a32.data(), ta.numel());
    a = a32.data();
  }
  float* y = nullptr;
  if (ty.dtype() == DType::kF32) {
    y = ty.data<float>();
  } else {
    y32.resize(static_cast<size_t>(m * n));
    y = y32.data();
  }
  const float* bias = nullptr;
  if (ctx.has_input(5)) {
    const Tensor& tb = ctx.in(5);
    if (!is_float(tb.dtype()) || tb.numel() != n) return ctx.fail("bias must be float [N]");
    if (tb.dtype() == DType::kF32) {
      bias = tb.data<float>();
    } else {
      bias32.resize(static_cast<size_t>(n));
      f16_to_f32(tb.data<Half>(), bias32.data(), n);
      bias = bias32.data();
    }
  }
  auto parallel = [&](int64_t count, const std::function<void(int64_t, int64_t)>& fn) {
    if (ctx.pool && count > 1) ctx.pool->parallel_for(count, 1, fn);
    else fn(0, count);
  };
  const NbitsQ8Tile q8_tile = ctx.node.attr_int("accuracy_level", 0) == 4 ? matmul_nbits_q8_tile_for_cpu() : nullptr;
  if (m >= kGemmRows && q8_tile) {
    run_q8(*w, q8_tile, matmul_nbits_q8_wide_for_cpu(*w), a, m, bias, y, parallel);
  } else if (m < kGemmRows) {
    thread_local std::vector<float> arow, yrow;
    arow.assign(static_cast<size_t>(w->k_pad), 0.0f);
    yrow.resize(static_cast<size_t>(w->panels * kNbitsPanel));
    for (int64_t i = 0; i < m; ++i) {
      std::copy(a + i * k, a + (i + 1) * k, arow.begin());
      const float* ap = arow.data();
      float* yp = yrow.data();
      parallel(w->panels, [&](int64_t p0, int64_t p1) { kern.gemv(*w, ap, yp, p0, p1); });
      for (int64_t j = 0; j < n; ++j) y[i * n + j] = yrow[static_cast<size_t>(j)] + (bias ? bias[j] : 0.0f);
    }
  } else {
    const GemmUkernel* uk = nullptr;
    for (const GemmUkernel& u : gemm_f32_ukernels())
      if (u.isa == kern.isa) uk = &u;
    if (!uk) return ctx.fail_unsupported("no f32 micro-kernel for " + std::string(kern.name));
    const int64_t per = uk->nr / kNbitsPanel, groups = (w->panels + per - 1) / per;
    thread_local std::vector<float> apack;
    apack.resize(static_cast<size_t>(packed_a_size(*uk, m, k)));
    pack_a_f32(*uk, a, k, 1, m, k, apack.data());
    const float* ap = apack.data();
    parallel(groups, [&](int64_t g0, int64_t g1) {
      thread_local std::vector<float> panel;
      panel.resize(static_cast<size_t>(k * uk->nr));
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t p = g * per, cnt = std::min(per, w->panels - p);
        if (cnt < per) std::fill(panel.begin(), panel.end(), 0.0f);
        kern.dequant(*w, p, cnt, uk->nr, panel.data());
        const int64_t j0 = p * kNbitsPanel, nv = std::min<int64_t>(uk->nr, n - j0);
        GemmEpilogue ep;
        if (bias) {
          ep.bias = bias + j0;
          ep.bias_cs = 1;
        }
        gemm_f32_packed(*uk, m, nv, k, a, k, 1, panel.data(), y + j0, n, ep, nullptr, ap);
      }
    });
  }
  if (ty.dtype() == DType::kF16) {
    if (cpu_features().f16c) matmul_nbits_f32_to_f16__avx2(y32.data(), reinterpret_cast<uint16_t*>(ty.data<Half>()), m * n);
    else
      for (int64_t i = 0; i < m * n; ++i) ty.data<Half>()[i] = Half(y32[static_cast<size_t>(i)]);
  }
  return Status::ok();
}

}  // namespace

NbitsQ8Tile matmul_nbits_q8_tile_for_cpu() {
  const Isa isa = max_isa();
  if (isa >= Isa::kAvx512Vnni) return matmul_nbits_q8_tile__avx512vnni;
  if (isa >= Isa::kAvx2 && cpu_features().avxvnni) return matmul_nbits_q8_tile__avxvnni;
  if (isa >= Isa::kAvx2) return matmul_nbits_q8_tile__avx2;
  return nullptr;
}

bool matmul_nbits_q8_wide_for_cpu(const Int4Panels& w) {
  if (!w.int_zeros || max_isa() < Isa::kAvx512Vnni) return false;
  const char* env = std::getenv("JOULE_NBITS_Q8_TILE");  // "4x16": the narrow tiles (for comparisons)
  return !(env && std::string(env) == "4x16");
}

void register_cpu_matmul_nbits(KernelRegistry& r) {
  // B, scales, zero_points (inputs 1-3) live only in the prepared panels, a (trivial) g_idx is not needed;
  // run() reads just A and bias.
  const uint32_t packed = (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4);
  r.add(with_packed_inputs({"com.microsoft", "MatMulNBits", kKernels[0].name, Device::kCpu, Isa::kAvx2, 12, nbits_accepts,
                            nbits_prepare, nbits_run<0>}, packed));
  r.add(with_packed_inputs({"com.microsoft", "MatMulNBits", kKernels[1].name, Device::kCpu, Isa::kAvx512, 13, nbits_accepts,
                            nbits_prepare, nbits_run<1>}, packed));
}

}  // namespace joule::kernels::cpu
