// Transpose for any 1/2/4/8-byte dtype, portable C++ (no intrinsics: it is a memory-bound copy).
//
// The permuted view is first simplified: size-1 dims dropped, and output dims d, d+1 merged when they
// are also adjacent and contiguous in the input. Then:
//   - the innermost output dim contiguous in the input ([0,2,1,3] attention heads): memcpy rows;
//   - otherwise (2-D, NCHW <-> NHWC, general): the output's innermost dim `j` and the output dim `i`
//     that is innermost in the input are walked in kTile x kTile tiles, so reads and writes both touch
//     whole cache lines; the other dims advance an odometer.
// Work is split over ctx.pool by outer index (and tile rows); a pure copy is bitwise identical anyway.
// Tensors under kMinBlockedElems elements are handed to the reference kernel (as fast there).
#include <algorithm>
#include <cstring>
#include <functional>

#include "kernels/kernel_registry.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels::cpu {

namespace {

constexpr int64_t kTile = 16;
constexpr int64_t kGrainElems = 32768;
constexpr int64_t kMinBlockedElems = 32768;

struct TransposeView {
  std::vector<int64_t> dims, in_st, out_st;  // per output dim (merged): size, input stride, output stride
};

TransposeView simplify(const Shape& in, const std::vector<int64_t>& perm) {
  std::vector<int64_t> in_strides = ops::strides_of(in);
  TransposeView v;
  for (size_t i = 0; i < perm.size(); ++i) {
    const int64_t d = in[static_cast<size_t>(perm[i])], s = in_strides[static_cast<size_t>(perm[i])];
    if (d == 1) continue;
    if (!v.dims.empty() && v.in_st.back() == s * d) {
      v.dims.back() *= d;
      v.in_st.back() = s;
    } else {
      v.dims.push_back(d);
      v.in_st.push_back(s);
    }
  }
  if (v.dims.empty()) {
    v.dims.push_back(1);
    v.in_st.push_back(1);
  }
  v.out_st.assign(v.dims.size(), 1);
  for (size_t k = v.dims.size() - 1; k-- > 0;) v.out_st[k] = v.out_st[k + 1] * v.dims[k + 1];
  return v;
}

void parallel(ThreadPool* pool, int64_t n, int64_t grain, RangeFn fn) {
  if (n <= 0) return;
  if (!pool || pool->threads() == 1 || n <= grain) return fn(0, n);
  pool->parallel_for(n, grain, fn);
}

// Offsets (input, output) of outer index `o` over `dims` excluding the positions in `skip`.
void outer_offsets(const TransposeView& v, const std::vector<size_t>& outer_dims, int64_t o, int64_t& in_off, int64_t& out_off) {
  in_off = out_off = 0;
  for (size_t k = outer_dims.size(); k-- > 0;) {
    const size_t d = outer_dims[k];
    const int64_t i = o % v.dims[d];
    o /= v.dims[d];
    in_off += i * v.in_st[d];
    out_off += i * v.out_st[d];
  }
}

template <class W>
void transpose_words(const W* src, W* dst, const TransposeView& v, ThreadPool* pool) {
  const size_t r = v.dims.size();
  const size_t j = r - 1;  // innermost output dim
  if (v.in_st[j] == 1) {  // contiguous rows
    const int64_t row = v.dims[j], rows = shape_numel(Shape(v.dims.begin(), v.dims.end() - 1));
    parallel(pool, rows, std::max<int64_t>(1, kGrainElems / row), [&](int64_t r0, int64_t r1) {
      // Output rows are consecutive (dst + o * row); input offsets follow an odometer over the outer dims.
      std::vector<int64_t> idx(j);
      int64_t io = 0;
      for (size_t d = j, o = static_cast<size_t>(r0); d-- > 0;) {
        idx[d] = static_cast<int64_t>(o % static_cast<size_t>(v.dims[d]));
        o /= static_cast<size_t>(v.dims[d]);
        io += idx[d] * v.in_st[d];
      }
      for (int64_t o = r0; o < r1; ++o) {
        std::memcpy(dst + o * row, src + io, static_cast<size_t>(row) * sizeof(W));
        for (size_t d = j; d-- > 0;) {
          ++idx[d];
          io += v.in_st[d];
          if (idx[d] < v.dims[d]) break;
          io -= v.in_st[d] * v.dims[d];
          idx[d] = 0;
        }
      }
    });
    return;
  }
  size_t i = 0;  // the output dim with input stride 1 (exists: the input's innermost non-1 dim)
  for (size_t d = 0; d < r; ++d)
    if (v.in_st[d] == 1) i = d;
  std::vector<size_t> outer_dims;
  for (size_t d = 0; d < r; ++d)
    if (d != i && d != j) outer_dims.push_back(d);
  int64_t outer = 1;
  for (size_t d : outer_dims) outer *= v.dims[d];
  const int64_t ni = v.dims[i], nj = v.dims[j], si_out = v.out_st[i], sj_in = v.in_st[j];
  const int64_t tiles_i = (ni + kTile - 1) / kTile;
  parallel(pool, outer * tiles_i, std::max<int64_t>(1, kGrainElems / (kTile * nj)), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      int64_t io, oo;
      outer_offsets(v, outer_dims, t / tiles_i, io, oo);
      const int64_t i0 = (t % tiles_i) * kTile, i1 = std::min(ni, i0 + kTile);
      for (int64_t j0 = 0; j0 < nj; j0 += kTile) {
        const int64_t j1 = std::min(nj, j0 + kTile);
        for (int64_t a = i0; a < i1; ++a) {
          const W* s = src + io + a + j0 * sj_in;  // input: element (a, b) at a + b * sj_in
          W* d = dst + oo + a * si_out;
          for (int64_t b = j0; b < j1; ++b) d[b] = s[(b - j0) * sj_in];
        }
      }
    }
  });
}

// The dtype may be unknown when the kernel is chosen; element sizes other than 1/2/4/8 bytes (strings,
// packed 4-bit) go to the reference kernel at run time.
bool accepts_transpose(const KernelQuery& q) {
  if (q.inputs.empty()) return false;
  if (q.inputs[0].dtype == DType::kUndefined) return true;
  const size_t es = dtype_size(q.inputs[0].dtype);
  return (es == 1 || es == 2 || es == 4 || es == 8) && q.inputs[0].dtype != DType::kString;
}

Status transpose_reference(KernelContext& ctx) {
  static const KernelDef* ref = KernelRegistry::builtin().reference("", "Transpose");
  return ref->run(ctx);
}

Status transpose_blocked(KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  // Strings, and tensors small enough to sit in L1/L2 (where the reference's row copies measured as fast
  // or faster: bench/kernels/elementwise_bench.cpp), go to the reference kernel.
  if (x.dtype() == DType::kString || x.numel() < kMinBlockedElems) return transpose_reference(ctx);
  const Shape& in = x.shape();
  const int r = x.rank();
  std::vector<int64_t> perm = ctx.node.attr_ints("perm");
  if (!ctx.node.has_attr("perm"))
    for (int k = r - 1; k >= 0; --k) perm.push_back(k);
  if (static_cast<int>(perm.size()) != r) return ctx.fail("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
  for (int64_t p : perm)
    if (p < 0 || p >= r) return ctx.fail("perm entry " + std::to_string(p) + " out of range for rank " + std::to_string(r));
  if (x.numel() == 0) return Status::ok();
  const TransposeView v = simplify(in, perm);
  const void* src = x.raw();
  void* dst = ctx.out(0).raw();
  switch (dtype_size(x.dtype())) {
    case 1: transpose_words(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), v, ctx.pool); break;
    case 2: transpose_words(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), v, ctx.pool); break;
    case 4: transpose_words(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), v, ctx.pool); break;
    case 8: transpose_words(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst), v, ctx.pool); break;
    default: return transpose_reference(ctx);
  }
  return Status::ok();
}

}  // namespace

void register_cpu_transpose(KernelRegistry& r) {
  r.add({"", "Transpose", "transpose_blocked", Device::kCpu, Isa::kScalar, 5, accepts_transpose, nullptr, transpose_blocked});
}

}  // namespace joule::kernels::cpu
