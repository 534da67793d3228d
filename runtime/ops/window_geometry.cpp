// Resolution of Conv / ConvTranspose / pooling window attributes (see window_geometry.h).
#include "runtime/ops/window_geometry.h"

#include <algorithm>

namespace joule::ops {

namespace {

// Attribute values beyond this are treated as corrupt rather than trusted in size arithmetic.
constexpr int64_t kMaxWindowAttr = int64_t{1} << 31;

// Python-style floor division for possibly negative numerators (positive d).
int64_t floor_div(int64_t n, int64_t d) { return n >= 0 ? n / d : -((-n + d - 1) / d); }

std::string ints_to_string(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// Reads an int-list attribute that must have `n` entries, each >= `min`; `def` when absent.
std::string read_ints(const ir::Node& node, const char* name, size_t n, int64_t def, int64_t min,
                      std::vector<int64_t>& out) {
  out = node.attr_ints(name, std::vector<int64_t>(n, def));
  if (out.size() != n)
    return std::string(name) + " " + ints_to_string(out) + " has " + std::to_string(out.size()) + " entries, expected " +
           std::to_string(n);
  for (int64_t v : out) {
    if (v < min) return std::string(name) + " " + ints_to_string(out) + " must be >= " + std::to_string(min);
    if (v > kMaxWindowAttr) return std::string(name) + " " + ints_to_string(out) + " has an absurd value";
  }
  return "";
}

std::string check_kernel(const std::vector<int64_t>& kernel, size_t n) {
  if (kernel.size() != n)
    return "kernel has " + std::to_string(kernel.size()) + " spatial dims but the input has " + std::to_string(n);
  for (int64_t k : kernel)
    if (k < 1 || k > kMaxWindowAttr) return "kernel shape " + ints_to_string(kernel) + " must have positive dims";
  return "";
}

}  // namespace

int64_t WindowGeometry::in_size() const {
  int64_t n = 1;
  for (int64_t v : in) n *= v;
  return n;
}
int64_t WindowGeometry::out_size() const {
  int64_t n = 1;
  for (int64_t v : out) n *= v;
  return n;
}
int64_t WindowGeometry::kernel_size() const {
  int64_t n = 1;
  for (int64_t v : kernel) n *= v;
  return n;
}

WindowGeometry WindowGeometry::as_3d() const {
  WindowGeometry g = *this;
  while (g.in.size() < 3) {
    g.in.insert(g.in.begin(), 1);
    g.kernel.insert(g.kernel.begin(), 1);
    g.strides.insert(g.strides.begin(), 1);
    g.dilations.insert(g.dilations.begin(), 1);
    g.pad_begin.insert(g.pad_begin.begin(), 0);
    g.pad_end.insert(g.pad_end.begin(), 0);
    g.out.insert(g.out.begin(), 1);
  }
  return g;
}

std::string resolve_window(const ir::Node& node, const Shape& in_spatial, const std::vector<int64_t>& kernel,
                           WindowRounding rounding, WindowGeometry& g) {
  size_t n = in_spatial.size();
  if (n == 0) return "input needs at least one spatial dim (rank >= 3)";
  std::string err = check_kernel(kernel, n);
  if (err.empty()) err = read_ints(node, "strides", n, 1, 1, g.strides);
  if (err.empty()) err = read_ints(node, "dilations", n, 1, 1, g.dilations);
  std::vector<int64_t> pads;
  if (err.empty()) err = read_ints(node, "pads", 2 * n, 0, 0, pads);
  if (!err.empty()) return err;
  g.in.assign(in_spatial.begin(), in_spatial.end());
  g.kernel = kernel;
  g.pad_begin.assign(n, 0);
  g.pad_end.assign(n, 0);
  g.out.assign(n, 0);

  std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  for (size_t i = 0; i < n; ++i) {
    int64_t in = g.in[i], s = g.strides[i];
    int64_t ek = (g.kernel[i] - 1) * g.dilations[i] + 1;  // effective (dilated) kernel extent
    if (auto_pad == "NOTSET" || auto_pad == "VALID") {
      if (auto_pad == "NOTSET") {
        g.pad_begin[i] = pads[i];
        g.pad_end[i] = pads[i + n];
      }
      int64_t span = in + g.pad_begin[i] + g.pad_end[i] - ek;
      if (span < 0)
        return "kernel extent " + std::to_string(ek) + " (kernel " + std::to_string(g.kernel[i]) + ", dilation " +
               std::to_string(g.dilations[i]) + ") is larger than the padded input " +
               std::to_string(in + g.pad_begin[i] + g.pad_end[i]) + " in spatial dim " + std::to_string(i);
      if (rounding == WindowRounding::kCeil && auto_pad == "NOTSET") {
        g.out[i] = (span + s - 1) / s + 1;
        // The last window must start inside the input or its leading padding.
        if ((g.out[i] - 1) * s >= in + g.pad_begin[i]) --g.out[i];
      } else {
        g.out[i] = span / s + 1;
      }
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.out[i] = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (g.out[i] - 1) * s + ek - in);
      int64_t small = total / 2, big = total - total / 2;
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? small : big;  // SAME_UPPER puts the extra pad at the end
      g.pad_end[i] = total - g.pad_begin[i];
    } else {
      return "auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID";
    }
    if (g.out[i] < 1) return "output spatial dim " + std::to_string(i) + " would be empty";
  }
  return "";
}

std::string resolve_transpose_window(const ir::Node& node, const Shape& in_spatial, const std::vector<int64_t>& kernel,
                                     WindowGeometry& g) {
  size_t n = in_spatial.size();
  if (n == 0) return "input needs at least one spatial dim (rank >= 3)";
  std::string err = check_kernel(kernel, n);
  if (err.empty()) err = read_ints(node, "strides", n, 1, 1, g.strides);
  if (err.empty()) err = read_ints(node, "dilations", n, 1, 1, g.dilations);
  std::vector<int64_t> pads, out_pad;
  if (err.empty()) err = read_ints(node, "pads", 2 * n, 0, 0, pads);
  if (err.empty()) err = read_ints(node, "output_padding", n, 0, 0, out_pad);
  if (!err.empty()) return err;
  std::vector<int64_t> out_shape = node.attr_ints("output_shape");
  if (!out_shape.empty()) {
    // Accept spatial dims only, or the full N, C, spatial... shape some exporters write.
    if (out_shape.size() == n + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
    if (out_shape.size() != n)
      return "output_shape " + ints_to_string(node.attr_ints("output_shape")) + " does not match " + std::to_string(n) +
             " spatial dims";
    for (int64_t v : out_shape)
      if (v < 1 || v > kMaxWindowAttr) return "output_shape " + ints_to_string(out_shape) + " must have positive dims";
  }
  g.in.assign(in_spatial.begin(), in_spatial.end());
  g.kernel = kernel;
  g.pad_begin.assign(n, 0);
  g.pad_end.assign(n, 0);
  g.out.assign(n, 0);

  std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
  if (!same && auto_pad != "NOTSET" && auto_pad != "VALID")
    return "auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID";
  for (size_t i = 0; i < n; ++i) {
    int64_t ek = (g.kernel[i] - 1) * g.dilations[i] + 1;
    // Length of the transposed result before any cropping by pads.
    int64_t full = g.strides[i] * (g.in[i] - 1) + out_pad[i] + ek;
    if (!out_shape.empty()) {
      // Pads are derived from the requested size; a negative total means zero-filled extension.
      g.out[i] = out_shape[i];
      int64_t total = full - g.out[i];
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? floor_div(total, 2) : total - floor_div(total, 2);
    } else if (same) {
      g.out[i] = g.in[i] * g.strides[i];
      int64_t total = std::max<int64_t>(0, full - g.out[i]);
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    } else {
      if (auto_pad == "NOTSET") {
        g.pad_begin[i] = pads[i];
        g.pad_end[i] = pads[i + n];
      }
      g.out[i] = full - g.pad_begin[i] - g.pad_end[i];
      if (g.out[i] < 1)
        return "pads " + ints_to_string(pads) + " crop away the whole output in spatial dim " + std::to_string(i);
    }
    g.pad_end[i] = full - g.out[i] - g.pad_begin[i];
  }
  return "";
}

}  // namespace joule::ops
