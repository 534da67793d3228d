// Reference Pad kernel (all opsets; constant, reflect, edge and wrap modes; negative pads crop).
//
// Layout: row-major data of any rank and any fixed-size dtype. For each axis d we build a map
// from output coordinate o to input coordinate (or -1 = "use the constant"):
//   j = o - max(begin, 0)                 position relative to the kept (cropped) input range
//   kept range = [max(-begin, 0), n - max(-end, 0)), of length m
//   constant: j in [0, m) ? lo + j : -1
//   edge:     lo + clamp(j, 0, m - 1)
//   reflect:  lo + reflect(j) with period 2(m - 1) (numpy 'reflect', edge not repeated; m == 1 -> 0)
//   wrap:     lo + (j mod m)
// so pads larger than the axis repeat the reflection / wrap like numpy.pad does.
#include <algorithm>
#include <cstring>

#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/resize_pad_params.h"

namespace joule::kernels {

namespace {

using ops::PadMode;

int64_t floor_mod(int64_t a, int64_t m) {
  int64_t r = a % m;
  return r < 0 ? r + m : r;
}

// Output coordinate -> input coordinate along one axis (-1 for constant fill).
std::vector<int64_t> axis_map(PadMode mode, int64_t n, int64_t begin, int64_t end, int64_t out_size) {
  const int64_t lo = std::max<int64_t>(-begin, 0);
  const int64_t m = n - lo - std::max<int64_t>(-end, 0);  // kept input elements (> 0 unless constant)
  const int64_t shift = std::max<int64_t>(begin, 0);
  std::vector<int64_t> map(static_cast<size_t>(out_size));
  for (int64_t o = 0; o < out_size; ++o) {
    const int64_t j = o - shift;
    int64_t k;
    switch (mode) {
      case PadMode::kConstant: k = (j >= 0 && j < m) ? j : -1; break;
      case PadMode::kEdge: k = std::clamp<int64_t>(j, 0, m - 1); break;
      case PadMode::kWrap: k = floor_mod(j, m); break;
      case PadMode::kReflect:
      default: {
        if (m == 1) {
          k = 0;
        } else {
          const int64_t period = 2 * (m - 1);
          k = floor_mod(j, period);
          if (k >= m) k = period - k;
        }
        break;
      }
    }
    map[static_cast<size_t>(o)] = k < 0 ? -1 : lo + k;
  }
  return map;
}

template <class T>
void pad_impl(const Tensor& in, Tensor& out, const std::vector<std::vector<int64_t>>& maps, T value) {
  const Shape& os = out.shape();
  const int r = static_cast<int>(os.size());
  const int64_t total = out.numel();
  T* po = out.data<T>();
  if (total == 0) return;
  if (r == 0) {
    po[0] = in.data<T>()[0];
    return;
  }
  const T* pi = in.data<T>();
  const std::vector<int64_t> is = ops::strides_of(in.shape());
  const int64_t inner = os[static_cast<size_t>(r - 1)];
  const std::vector<int64_t>& last = maps[static_cast<size_t>(r - 1)];
  // Odometer over all output coordinates except the last axis; the last axis is a plain loop.
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  for (int64_t base = 0; base < total; base += inner) {
    int64_t off = 0;
    bool fill = false;
    for (int d = 0; d < r - 1; ++d) {
      int64_t k = maps[static_cast<size_t>(d)][static_cast<size_t>(idx[static_cast<size_t>(d)])];
      if (k < 0) fill = true;
      else off += k * is[static_cast<size_t>(d)];
    }
    T* row = po + base;
    for (int64_t o = 0; o < inner; ++o) {
      const int64_t k = last[static_cast<size_t>(o)];
      row[o] = (fill || k < 0) ? value : pi[off + k];
    }
    for (int d = r - 2; d >= 0; --d) {
      size_t du = static_cast<size_t>(d);
      if (++idx[du] < os[du]) break;
      idx[du] = 0;
    }
  }
}

Status pad_ref(KernelContext& ctx) {
  const Node& node = ctx.node;
  const Tensor& x = ctx.in(0);
  const Tensor* pads = node.opset >= 11 && ctx.has_input(1) ? ctx.inputs[1] : nullptr;
  const Tensor* axes = node.opset >= 18 && ctx.has_input(3) ? ctx.inputs[3] : nullptr;
  ops::PadParams p;
  JOULE_RETURN_IF_ERROR(ops::decode_pad(node, x.shape(), pads, axes, p).with_context(node.label()));
  if (p.out_shape != ctx.out(0).shape()) return ctx.fail("output shape does not match the pads");

  std::vector<std::vector<int64_t>> maps;
  for (size_t d = 0; d < p.out_shape.size(); ++d)
    maps.push_back(axis_map(p.mode, x.shape()[d], p.begin[d], p.end[d], p.out_shape[d]));

  // Fill value: the `value` attribute before opset 11, the optional constant_value input after.
  const Tensor* cv = node.opset >= 11 && ctx.has_input(2) && ctx.in(2).numel() > 0 ? ctx.inputs[2] : nullptr;
  const double attr_value = node.opset < 11 ? node.attr_float("value", 0.0f) : 0.0;
  bool ok = dispatch_all(x.dtype(), [&]<class T>() {
    T value{};
    if (cv && cv->dtype() == x.dtype()) value = cv->data<T>()[0];  // exact, even for int64
    else if (cv) value = from_compute<T>(static_cast<ComputeT<T>>(cv->value_as_double(0)));
    else value = from_compute<T>(static_cast<ComputeT<T>>(attr_value));
    pad_impl<T>(x, ctx.out(0), maps, value);
  });
  return ok ? Status::ok() : ctx.fail_unsupported("dtype " + std::string(dtype_name(x.dtype())));
}

}  // namespace

void register_ref_pad(KernelRegistry& r) {
  r.add({"", "Pad", "pad__ref", Device::kCpu, Isa::kScalar, 0, nullptr, nullptr, pad_ref});
}

}  // namespace joule::kernels
