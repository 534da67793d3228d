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

namespace {

constexpr int64_t kColumnMax = 4;            // up to this many left-over pixels take the column kernel
constexpr int64_t kBlockBytes = 192 * 1024;  // packed X strips per block (L2 is 512 KiB on Zen 3)

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

Status conv1x1_prepare(const KernelQuery& q, std::shared_ptr<const void>& state) {
  const Tensor* w = q.constant_inputs.size() > 1 ? q.constant_inputs[1] : nullptr;
  if (!w || w->dtype() != DType::kF32 || w->rank() != 4) return Status::ok();
  auto s = std::make_shared<PackedW>();
  s->w_shape = w->shape();
  s->data.resize(static_cast<size_t>(conv1x1_packed_w_size(w->dim(0), w->dim(1))));
  conv1x1_pack_w(w->data<float>(), w->dim(0), w->dim(1), s->data.data());
  state = s;
  return Status::ok();
}

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
    wlocal.resize(static_cast<size_t>(conv1x1_packed_w_size(M, K)));
    conv1x1_pack_w(w.data<float>(), M, K, wlocal.data());
  }
  const float* wp = pw ? pw->data.data() : wlocal.data();

  const int64_t full = P / 16, rem = P % 16;
  const int64_t strips = full + (rem > 0 ? 1 : 0), panels = (M + 5) / 6;
  const int threads = ctx.pool ? ctx.pool->threads() : 1;
  // Threads split the strips (each packs only its own) unless there are too few to split evenly
  // (7x7 / 14x14 planes): then the weight panels, each thread packing every strip for itself.
  auto imbalance = [&](int64_t n) { return static_cast<double>((n + threads - 1) / threads) * threads / static_cast<double>(n); };
  const bool split_panels = threads > 1 && (strips < 8 * threads || imbalance(panels) < imbalance(strips));
  // Strips per block: the packed block stays in L2 while every weight panel sweeps it.
  const int64_t block = std::max<int64_t>(1, kBlockBytes / (K * 16 * static_cast<int64_t>(sizeof(float))));

  for (int64_t n = 0; n < N; ++n) {
    const float* xn = x.data<float>() + n * K * P;
    float* yn = y.data<float>() + n * M * P;
    auto run_range = [&](int64_t t0, int64_t t1, int64_t s0, int64_t s1) {
      thread_local std::vector<float> packed;
      const int64_t cap = std::min(s1 - s0, block);
      if (packed.size() < static_cast<size_t>(cap * K * 16)) packed.resize(static_cast<size_t>(cap * K * 16));
      for (int64_t sb = s0; sb < s1; sb += block) {
        const int64_t se = std::min(s1, sb + block);
        // Pack the block's strips: [K][16] each (zero padded past P), or, for 1..kColumnMax left-over
        // pixels, one contiguous column [K] per pixel.
        for (int64_t s = sb; s < se; ++s) {
          float* bs = packed.data() + (s - sb) * K * 16;
          const int64_t p0 = s * 16, nv = std::min<int64_t>(16, P - p0);
          if (nv <= kColumnMax && nv < 16) {
            for (int64_t j = 0; j < nv; ++j)
              for (int64_t p = 0; p < K; ++p) bs[j * K + p] = xn[p * P + p0 + j];
            continue;
          }
          for (int64_t p = 0; p < K; ++p) {
            std::copy(xn + p * P + p0, xn + p * P + p0 + nv, bs + p * 16);
            std::fill(bs + p * 16 + nv, bs + p * 16 + 16, 0.0f);
          }
        }
        // Each weight panel sweeps the block (panel in L1, block in L2; 6 output rows written at a time).
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t m0 = t * 6, mv = std::min<int64_t>(6, M - m0);
          const float* a = wp + t * 6 * K;
          const float* bt = bias ? bias + m0 : nullptr;
          for (int64_t s = sb; s < se; ++s) {
            const float* bs = packed.data() + (s - sb) * K * 16;
            const int64_t p0 = s * 16, nv = std::min<int64_t>(16, P - p0);
            if (nv <= kColumnMax && nv < 16) {
              for (int64_t j = 0; j < nv; ++j) conv1x1_6x1__avx2(K, a, bs + j * K, 1, bt, ep, yn + m0 * P + p0 + j, P, mv);
            } else {
              conv1x1_6x16__avx2(K, a, bs, 16, bt, ep, yn + m0 * P + p0, P, mv, nv);
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
  r.add({"", "Conv", "conv1x1_f32__avx2", Device::kCpu, Isa::kAvx2, 13, conv1x1_accepts, conv1x1_prepare, conv1x1_run});
}

}  // namespace joule::kernels::cpu
