// Reference kernel of joule.StridedMatMul (runtime/ops/strided_matmul_ops.cpp): exactly what the
// Transpose, MatMul, Mul/Div, Add and Transpose reference kernels compute one after the other:
// the operands are transposed into contiguous copies, each product element is summed in double and
// rounded to float once, then scaled and added to in float, then transposed. float32 only (the fusion
// creates no other).
#include <algorithm>
#include <vector>

#include "kernels/kernel_registry.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/strided_matmul_shape.h"

namespace joule::kernels {
namespace {

// dst (contiguous, shape src_shape permuted by perm) = Transpose(src, perm).
void transpose_copy(const float* src, const Shape& src_shape, const std::vector<int64_t>& perm, std::vector<float>& dst) {
  const size_t r = src_shape.size();
  std::vector<int64_t> in_strides = ops::strides_of(src_shape), out_shape(r), step(r);
  for (size_t d = 0; d < r; ++d) {
    out_shape[d] = src_shape[static_cast<size_t>(perm[d])];
    step[d] = in_strides[static_cast<size_t>(perm[d])];
  }
  const int64_t total = shape_numel(out_shape);
  dst.resize(static_cast<size_t>(total));
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < total; ++o) {
    int64_t off = 0;
    for (size_t d = 0; d < r; ++d) off += idx[d] * step[d];
    dst[static_cast<size_t>(o)] = src[off];
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
}

Status strided_matmul_ref(KernelContext& ctx) {
  const Tensor& ta = ctx.in(0);
  const Tensor& tb = ctx.in(1);
  const Tensor* tc = ctx.has_input(2) ? &ctx.in(2) : nullptr;
  if (ta.dtype() != DType::kF32 || tb.dtype() != DType::kF32 || (tc && tc->dtype() != DType::kF32))
    return ctx.fail_unsupported("only float32 is supported");
  ops::StridedMatMulShapes s;
  std::string err;
  if (!ops::strided_matmul_shapes(ctx.node, ta.shape(), tb.shape(), s, err)) return ctx.fail(err);
  std::vector<float> a, b;
  transpose_copy(ta.data<float>(), ta.shape(), s.perm_a, a);
  transpose_copy(tb.data<float>(), tb.shape(), s.perm_b, b);
  const int64_t m = s.a[s.a.size() - 2], k = s.a.back(), n = s.b.back();
  Shape ba(s.a.begin(), s.a.end() - 2), bb(s.b.begin(), s.b.end() - 2);
  const std::vector<int64_t> sa = ops::broadcast_strides(ba, s.batch), sb = ops::broadcast_strides(bb, s.batch);
  const int64_t nb = shape_numel(s.batch);
  std::vector<float> z(static_cast<size_t>(nb * m * n));
  std::vector<double> acc(static_cast<size_t>(n));
  std::vector<int64_t> idx(s.batch.size(), 0);
  for (int64_t bi = 0; bi < nb; ++bi) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < s.batch.size(); ++d) {
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    const float* pa = a.data() + oa * m * k;
    const float* pb = b.data() + ob * k * n;
    for (int64_t i = 0; i < m; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t p = 0; p < k; ++p) {
        const double av = pa[i * k + p];
        for (int64_t j = 0; j < n; ++j) acc[static_cast<size_t>(j)] += av * static_cast<double>(pb[p * n + j]);
      }
      for (int64_t j = 0; j < n; ++j) z[static_cast<size_t>((bi * m + i) * n + j)] = static_cast<float>(acc[static_cast<size_t>(j)]);
    }
    for (size_t d = s.batch.size(); d-- > 0;) {
      if (++idx[d] < s.batch[d]) break;
      idx[d] = 0;
    }
  }
  if (ctx.node.has_attr("scale")) {
    const float scale = ctx.node.attr_float("scale", 1.0f);
    const bool div = ctx.node.attr_int("scale_div", 0) != 0;
    for (float& v : z) v = div ? v / scale : v * scale;
  }
  if (tc) {
    const std::vector<int64_t> scs = ops::broadcast_strides(tc->shape(), s.z);
    const float* pc = tc->data<float>();
    std::vector<int64_t> zi(s.z.size(), 0);
    for (size_t o = 0; o < z.size(); ++o) {
      int64_t off = 0;
      for (size_t d = 0; d < s.z.size(); ++d) off += zi[d] * scs[d];
      z[o] = z[o] + pc[off];
      for (size_t d = s.z.size(); d-- > 0;) {
        if (++zi[d] < s.z[d]) break;
        zi[d] = 0;
      }
    }
  }
  std::vector<float> y;
  transpose_copy(z.data(), s.z, s.perm_y, y);
  Tensor& out = ctx.out(0);
  if (out.numel() != static_cast<int64_t>(y.size())) return ctx.fail("output size does not match the product");
  std::copy(y.begin(), y.end(), out.data<float>());
  return Status::ok();
}

}  // namespace

void register_ref_strided_matmul(KernelRegistry& r) {
  r.add({"joule", "StridedMatMul", "strided_matmul__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, strided_matmul_ref});
}

}  // namespace joule::kernels
