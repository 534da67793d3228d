// conv1x1_f32__avx2: pointwise Conv (1x1 kernel, unit strides, no pads, group 1; MobileNet's expand and
// project convs) straight on NCHW, Y[M, P] = W[M, K] x X[K, P] per image:
//  - W packed once at prepare into 6-row panels [M/6][K][6];
//  - bias and the fused Relu/Clip ("joule.activation") are applied in registers before the single
//    store, instead of a second pass over Y (the output of a 112x112 expand conv is 4.8 MB);
//  - X is taken in blocks of 16-pixel strips (up to kBlockBytes packed): each strip is copied into a
//    contiguous [K][16] buffer, then every weight panel (in L1) sweeps the block (in L2), writing 6 output
//    rows at a time; the copy costs 1/M of the FMAs, and W is read once per block (7x7 planes: once);
//  - the pixels left after the 16-pixel strips: 1..4 of them (7x7 planes: 49 = 3*16 + 1) run a
//    6-channel x 1-pixel column kernel; 5..15 run one zero-padded strip (stores masked);
//  - threads split the strips into contiguous equal ranges, or, when there are too few strips to
//    split evenly (7x7 / 14x14 planes), the weight panels; every element is computed the same way
//    whatever the split, so 1 and N threads give identical results.
// conv1x1_f32_12x32__avx512 (AVX-512, preferred where the CPU has it) is the same driver with 12-row
// panels [M/12][K][12] (last panel rounded up to 4 rows) and 32-pixel strips; a left-over of 17..20
// pixels runs a 16-pixel tile plus columns (7x7: 49 = 32 + 16 + 1); for M <= kInPlaceMaxM the full
// strips are read in place, unpacked.
#include "kernels/cpu/conv1x1_f32.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "kernels/cpu/fused_activation.h"
#include "kernels/kernel_registry.h"

namespace joule::kernels::cpu {

int64_t conv1x1_packed_w_size(int64_t m, int64_t k) { return (m + 5) / 6 * 6 * k + 8; }

void conv1x1_pack_w(const float* w, int64_t m, int64_t k, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += 6)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t r = 0; r < 6; ++r) *dst++ = i0 + r < m ? w[(i0 + r) * k + p] : 0.0f;
  for (int i = 0; i < 8; ++i) *dst++ = 0.0f;
}

int64_t conv1x1_packed_w12_size(int64_t m, int64_t k) { return (m / 12 * 12 + (m % 12 + 3) / 4 * 4) * k + 16; }

void conv1x1_pack_w12(const float* w, int64_t m, int64_t k, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += 12) {
    const int64_t mr = std::min<int64_t>(12, (m - i0 + 3) / 4 * 4);
    for (int64_t p = 0; p < k; ++p)
      for (int64_t r = 0; r < mr; ++r) *dst++ = i0 + r < m ? w[(i0 + r) * k + p] : 0.0f;
  }
  for (int i = 0; i < 16; ++i) *dst++ = 0.0f;
}

namespace {

constexpr int64_t kColumnMax = 4;            // up to this many left-over pixels take the column kernel
constexpr int64_t kInPlaceMaxM = 64;        // AVX-512: up to this many output channels, X strips are not packed
constexpr int64_t kBlockBytes = 192 * 1024;  // packed X strips per block (L2: 512 KiB on Zen 3, 1 MiB on Zen 4)

bool all_equal(const ir::Node& n, const char* name, int64_t v) {
  if (!n.has_attr(name)) return true;
  for (int64_t e : n.attr_ints(name, {})) if (e != v) return false;
  return true;
}

bool conv1x1_accepts(const KernelQuery& q) {
  if (q.inputs.size() < 2) return false;
  bool known = false;
  for (const TensorDesc& d : q.inputs) {
    if (d.dtype == DType::kUndefined) continue;
    if (d.dtype != DType::kF32) return false;
    known = true;
  }
  const TensorDesc& w = q.inputs[1];
  if (!known || !w.rank_known || w.rank() != 4 || w.shape[2] != 1 || w.shape[3] != 1) return false;
  if (q.inputs[0].rank_known && q.inputs[0].rank() != 4) return false;
  if (q.node.attr_int("group", 1) != 1) return false;
  const std::string auto_pad = q.node.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") return false;
  if (!all_equal(q.node, "strides", 1) || !all_equal(q.node, "pads", 0)) return false;
  GemmEpilogue ep;
  return read_fused_activation(q.node, ep);
}

struct PackedW {
  Shape w_shape;
  std::vector<float> data;
};

/// One ISA's tiling: weight panels of `mr` rows, X strips of `nr` pixels; wide (AVX-512) lets a
/// left-over of 17..16+kColumnMax pixels run a 16-pixel tile plus columns.
struct Tiling {
  int64_t mr, nr;
  bool wide;
};
constexpr Tiling kAvx2Tiling{6, 16, false};
constexpr Tiling kAvx512Tiling{12, 32, true};

int64_t packed_size(const Tiling& t, int64_t m, int64_t k) {
  return t.wide ? conv1x1_packed_w12_size(m, k) : conv1x1_packed_w_size(m, k);
}
void pack(const Tiling& t, const float* w, int64_t m, int64_t k, float* dst) {
  if (t.wide) {
    conv1x1_pack_w12(w, m, k, dst);
  } else {
    conv1x1_pack_w(w, m, k, dst);
  }
}

template <const Tiling& T>
Status conv1x1_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor* w = q.constant_inputs.size() > 1 ? q.constant_inputs[1] : nullptr;
  if (!w || w->dtype() != DType::kF32 || w->rank() != 4) return Status::ok();
  auto s = std::make_shared<PackedW>();
  s->w_shape = w->shape();
  s->data.resize(static_cast<size_t>(packed_size(T, w->dim(0), w->dim(1))));
  pack(T, w->data<float>(), w->dim(0), w->dim(1), s->data.data());
  state = s;
  return Status::ok();
}

template <const Tiling& T>
Status conv1x1_run(KernelContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && ctx.in(i).dtype() != DType::kF32) return ctx.fail_unsupported("inputs are not all float32");
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  Tensor& y = ctx.out(0);
  if (x.rank() != 4 || w.rank() != 4 || w.dim(2) != 1 || w.dim(3) != 1 || x.dim(1) != w.dim(1))
    return ctx.fail("pointwise conv: input " + shape_to_string(x.shape()) + " and weight " + shape_to_string(w.shape()) +
                    " do not match");
  const int64_t N = x.dim(0), K = x.dim(1), M = w.dim(0), P = x.dim(2) * x.dim(3);
  if (y.numel() != N * M * P) return ctx.fail("output shape does not match the convolution");
  if (y.numel() == 0) return Status::ok();
  GemmEpilogue ep;
  read_fused_activation(ctx.node, ep);
  const float* bias = ctx.has_input(2) && ctx.in(2).numel() == M ? ctx.in(2).data<float>() : nullptr;
  auto* pw = static_cast<const PackedW*>(ctx.state);
  if (pw && pw->w_shape != w.shape()) pw = nullptr;
  std::vector<float> wlocal;
  if (!pw) {
    if (!w.raw()) return ctx.fail("weights were released but are not packed");
    wlocal.resize(static_cast<size_t>(packed_size(T, M, K)));
    pack(T, w.data<float>(), M, K, wlocal.data());
  }
  const float* wp = pw ? pw->data.data() : wlocal.data();

  constexpr int64_t MR = T.mr, NR = T.nr;
  const int64_t full = P / NR, rem = P % NR;
  const int64_t strips = full + (rem > 0 ? 1 : 0), panels = (M + MR - 1) / MR;
  // The left-over strip: `tile_px` pixels through the tile (zero padded to NR), then `cols` single columns.
  int64_t tile_px = rem, cols = 0;
  if (rem > 0 && rem <= kColumnMax) {
    tile_px = 0;
    cols = rem;
  } else if (T.wide && rem > 16 && rem - 16 <= kColumnMax) {
    tile_px = 16;
    cols = rem - 16;
  }
  // AVX-512, M <= kInPlaceMaxM (MobileNet's project convs): full strips are read in place (rows P floats
  // apart) instead of packed: with few panels the copy is not repaid (measured on Zen 4: the 16/24/32-
  // channel projects 15-25% faster; the expand convs, M >= 96, a little slower in place).
  const bool inplace = T.wide && M <= kInPlaceMaxM;
  const int threads = ctx.pool ? ctx.pool->threads() : 1;
  // Threads split the strips (each packs only its own) unless there are too few to split evenly
  // (7x7 / 14x14 planes): then the weight panels, each thread packing every strip for itself.
  auto imbalance = [&](int64_t n) { return static_cast<double>((n + threads - 1) / threads) * threads / static_cast<double>(n); };
  const bool split_panels = threads > 1 && (strips < 8 * threads || imbalance(panels) < imbalance(strips));
  // Strips per block: the packed block stays in L2 while every weight panel sweeps it. A strip slot holds
  // [K][NR] (tile part) followed by kColumnMax columns [K] (left-over strip only).
  // Slots start on 64-byte lines (a strip row 16 bytes off a line would split every zmm load of it).
  const int64_t slot = (K * (NR + kColumnMax) + 15) / 16 * 16;
  const int64_t block = std::max<int64_t>(1, kBlockBytes / (slot * static_cast<int64_t>(sizeof(float))));

  for (int64_t n = 0; n < N; ++n) {
    const float* xn = x.data<float>() + n * K * P;
    float* yn = y.data<float>() + n * M * P;
    auto run_range = [&](int64_t t0, int64_t t1, int64_t s0, int64_t s1) {
      thread_local std::vector<float> packed;
      const int64_t cap = std::min(s1 - s0, block);
      if (packed.size() < static_cast<size_t>(cap * slot + 16)) packed.resize(static_cast<size_t>(cap * slot + 16));
      float* const base = packed.data() + (16 - reinterpret_cast<uintptr_t>(packed.data()) / sizeof(float) % 16) % 16;
      for (int64_t sb = s0; sb < s1; sb += block) {
        const int64_t se = std::min(s1, sb + block);
        // Pack the block's strips: [K][NR] each (zero padded past the tile's pixels), then the columns [K].
        for (int64_t s = sb; s < se; ++s) {
          float* bs = base + (s - sb) * slot;
          const int64_t p0 = s * NR, nv = s < full ? NR : tile_px, nc = s < full ? 0 : cols;
          if (nv > 0 && !(inplace && s < full))
            for (int64_t p = 0; p < K; ++p) {
              std::copy(xn + p * P + p0, xn + p * P + p0 + nv, bs + p * NR);
              std::fill(bs + p * NR + nv, bs + p * NR + NR, 0.0f);
            }
          for (int64_t j = 0; j < nc; ++j)
            for (int64_t p = 0; p < K; ++p) bs[K * NR + j * K + p] = xn[p * P + p0 + nv + j];
        }
        // Each weight panel sweeps the block (panel in L1, block in L2; MR output rows written at a time).
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t m0 = t * MR, mv = std::min<int64_t>(MR, M - m0);
          const int64_t mr = T.wide ? std::min<int64_t>(MR, (mv + 3) / 4 * 4) : MR;
          const float* a = wp + t * MR * K;
          const float* bt = bias ? bias + m0 : nullptr;
          for (int64_t s = sb; s < se; ++s) {
            const float* bs = base + (s - sb) * slot;
            const int64_t p0 = s * NR, nv = s < full ? NR : tile_px, nc = s < full ? 0 : cols;
            float* ys = yn + m0 * P + p0;
            if (nv > 0) {
              if constexpr (T.wide) {
                if (inplace && s < full) {
                  conv1x1_12x32__avx512(K, a, mr, xn + p0, P, bt, ep, ys, P, mv, nv);
                } else {
                  conv1x1_12x32__avx512(K, a, mr, bs, NR, bt, ep, ys, P, mv, nv);
                }
              } else {
                conv1x1_6x16__avx2(K, a, bs, NR, bt, ep, ys, P, mv, nv);
              }
            }
            for (int64_t j = 0; j < nc; ++j) {
              if constexpr (T.wide) {
                conv1x1_12x1__avx512(K, a, mr, bs + K * NR + j * K, 1, bt, ep, ys + nv + j, P, mv);
              } else {
                conv1x1_6x1__avx2(K, a, bs + K * NR + j * K, 1, bt, ep, ys + nv + j, P, mv);
              }
            }
          }
        }
      }
    };
    if (threads > 1) {
      if (split_panels) {
        ctx.pool->parallel_for(panels, 1, [&](int64_t b, int64_t e) { run_range(b, e, 0, strips); });
      } else {
        ctx.pool->parallel_for(strips, 1, [&](int64_t b, int64_t e) { run_range(0, panels, b, e); });
      }
    } else {
      run_range(0, panels, 0, strips);
    }
  }
  return Status::ok();
}

}  // namespace

// No KernelDef::packed_inputs: weights not given at prepare (or of another shape) are packed per run.
void register_cpu_conv1x1(KernelRegistry& r) {
  r.add({"", "Conv", "conv1x1_f32__avx2", Device::kCpu, Isa::kAvx2, 13, conv1x1_accepts, conv1x1_prepare<kAvx2Tiling>,
         conv1x1_run<kAvx2Tiling>});
  r.add({"", "Conv", "conv1x1_f32_12x32__avx512", Device::kCpu, Isa::kAvx512, 14, conv1x1_accepts,
         conv1x1_prepare<kAvx512Tiling>, conv1x1_run<kAvx512Tiling>});
}

}  // namespace joule::kernels::cpu
