// Op definitions (arity, shape and type inference) for the shape family: ops that rearrange
// or re-view data without computing on it (Reshape, Transpose, Concat, Split, Slice, Expand ...).
// The ops that create tensors (Shape, Size, ConstantOfShape, Range, EyeLike ...) are in
// shape_gen_ops.cpp. Many output shapes depend on input VALUES (shape, repeats, starts...):
// those are read with ctx.input_value(i), and ctx.needs_value(i) is returned while unknown.
#include <algorithm>
#include <numeric>

#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/shape_util.h"

namespace joule::ops {

namespace {

constexpr int kManyOutputs = 1 << 20;  // "variadic" for max_outputs

// Reads a 1-D integer input that an output shape depends on (Reshape's shape, Expand's shape...).
Status int_vector_input(const InferContext& ctx, size_t i, const char* what, std::vector<int64_t>& out) {
  const Tensor* t = ctx.input_value(i);
  if (!t) return ctx.needs_value(i);
  if (!dtype_is_integer(t->dtype())) return ctx.fail(std::string(what) + " must be an integer tensor, not " + std::string(dtype_name(t->dtype())));
  if (t->rank() > 1) return ctx.fail(std::string(what) + " must be 1-D, got shape " + shape_to_string(t->shape()));
  out = t->to_int64_vector();
  return Status::ok();
}

// ---- Reshape, Flatten, Squeeze, Unsqueeze: same data, new shape -----------------------------

Status infer_reshape(InferContext& ctx) {
  const Node& n = ctx.node();
  std::vector<int64_t> target;
  if (n.opset < 5) {
    target = n.attr_ints("shape");
  } else {
    if (!ctx.has_input(1)) return ctx.fail("the shape input is required");
    JOULE_RETURN_IF_ERROR(int_vector_input(ctx, 1, "shape", target));
  }
  const bool allowzero = n.attr_int("allowzero", 0) != 0;
  const Shape& in = ctx.input(0).shape;
  const int64_t in_n = shape_numel(in);
  Shape out(target.size());
  int infer_at = -1;
  bool has_zero = false;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == -1) {
      if (infer_at >= 0) return ctx.fail("shape " + shape_to_string(target) + " has more than one -1");
      infer_at = static_cast<int>(i);
      continue;
    }
    if (d < -1) return ctx.fail("shape has invalid dim " + std::to_string(d));
    if (d == 0 && !allowzero) {  // 0 copies the input's dim at the same position
      if (i >= in.size()) return ctx.fail("shape has 0 at position " + std::to_string(i) + " but the input has rank " + std::to_string(in.size()));
      d = in[i];
    }
    has_zero |= d == 0;
    out[i] = d;
  }
  if (allowzero && has_zero && infer_at >= 0) return ctx.fail("allowzero=1 shape cannot contain both 0 and -1");
  Shape known = out;
  if (infer_at >= 0) known.erase(known.begin() + infer_at);
  int64_t known_n = 0;
  const bool fits = checked_numel(known, known_n);
  if (infer_at >= 0) {
    if (!fits || known_n == 0 || in_n % known_n != 0)
      return ctx.fail("cannot reshape " + shape_to_string(in) + " to " + shape_to_string(target) + ": the -1 cannot be inferred");
    out[static_cast<size_t>(infer_at)] = in_n / known_n;
  } else if (!fits || known_n != in_n) {
    return ctx.fail("cannot reshape " + shape_to_string(in) + " (" + std::to_string(in_n) + " elements) to " + shape_to_string(out));
  }
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

Status infer_flatten(InferContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  const int r = static_cast<int>(in.size());
  int64_t axis = ctx.node().attr_int("axis", 1);
  if (axis < -r || axis > r) return ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < r; ++i) (i < axis ? outer : inner) *= in[static_cast<size_t>(i)];
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, {outer, inner});
  return Status::ok();
}

// Squeeze/Unsqueeze axes: attribute before opset 13, optional (Squeeze) / required (Unsqueeze) input from 13.
Status read_axes(const InferContext& ctx, bool& given, std::vector<int64_t>& axes) {
  const Node& n = ctx.node();
  given = false;
  if (n.opset < 13) {
    given = n.has_attr("axes");
    axes = n.attr_ints("axes");
    return Status::ok();
  }
  if (!ctx.has_input(1)) return Status::ok();
  given = true;
  return int_vector_input(ctx, 1, "axes", axes);
}

Status infer_squeeze(InferContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  const int r = static_cast<int>(in.size());
  bool given = false;
  std::vector<int64_t> axes;
  JOULE_RETURN_IF_ERROR(read_axes(ctx, given, axes));
  std::vector<bool> drop(static_cast<size_t>(r), false);
  if (!given || axes.empty()) {  // no (or empty) axes: drop every 1-dim, as ONNX Runtime does
    for (int i = 0; i < r; ++i) drop[static_cast<size_t>(i)] = in[static_cast<size_t>(i)] == 1;
  }
  for (int64_t a : axes) {
    auto ax = normalize_axis(a, r);
    if (!ax) return ctx.fail("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(r));
    size_t u = static_cast<size_t>(*ax);
    if (drop[u]) return ctx.fail("axis " + std::to_string(a) + " is repeated");
    if (in[u] != 1) return ctx.fail("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(in[u]) + " (shape " + shape_to_string(in) + ")");
    drop[u] = true;
  }
  Shape out;
  for (int i = 0; i < r; ++i)
    if (!drop[static_cast<size_t>(i)]) out.push_back(in[static_cast<size_t>(i)]);
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

Status infer_unsqueeze(InferContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  bool given = false;
  std::vector<int64_t> axes;
  JOULE_RETURN_IF_ERROR(read_axes(ctx, given, axes));
  if (!given) return ctx.fail("axes are required");
  const int r = static_cast<int>(in.size() + axes.size());  // output rank
  std::vector<bool> inserted(static_cast<size_t>(r), false);
  for (int64_t a : axes) {
    auto ax = normalize_axis(a, r);
    if (!ax) return ctx.fail("axis " + std::to_string(a) + " is out of range for output rank " + std::to_string(r));
    if (inserted[static_cast<size_t>(*ax)]) return ctx.fail("axis " + std::to_string(a) + " is repeated");
    inserted[static_cast<size_t>(*ax)] = true;
  }
  Shape out;
  size_t k = 0;
  for (int i = 0; i < r; ++i) out.push_back(inserted[static_cast<size_t>(i)] ? 1 : in[k++]);
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

// ---- Transpose --------------------------------------------------------------------------------

Status infer_transpose(InferContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  const int r = static_cast<int>(in.size());
  std::vector<int64_t> perm = ctx.node().attr_ints("perm");
  if (!ctx.node().has_attr("perm"))
    for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int>(perm.size()) != r)
    return ctx.fail("perm has " + std::to_string(perm.size()) + " entries for an input of rank " + std::to_string(r));
  std::vector<bool> used(static_cast<size_t>(r), false);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= r || used[static_cast<size_t>(p)]) return ctx.fail("perm " + shape_to_string(perm) + " is not a permutation of 0.." + std::to_string(r - 1));
    used[static_cast<size_t>(p)] = true;
    out.push_back(in[static_cast<size_t>(p)]);
  }
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

// ---- Concat, Split -----------------------------------------------------------------------------

// Inputs agree on every dim but `axis`, which is summed. An input with no elements whose rank
// differs from the others (e.g. a [0] placeholder next to 2-D tensors) is ignored, as ONNX
// Runtime does; the kernel skips empty inputs.
Status infer_concat(InferContext& ctx) {
  const Node& n = ctx.node();
  if (!n.has_attr("axis")) return ctx.fail("the axis attribute is required");
  size_t ref = 0;  // the first non-empty input sets the rank and the other dims
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.fail("input " + std::to_string(i) + " is missing");
    if (shape_numel(ctx.input(i).shape) > 0) {
      ref = i;
      break;
    }
  }
  const TensorDesc& first = ctx.input(ref);
  const int r = first.rank();
  if (r == 0) return ctx.fail("cannot concatenate scalars");
  auto ax = normalize_axis(n.attr_int("axis", 0), r);
  if (!ax) return ctx.fail("axis " + std::to_string(n.attr_int("axis", 0)) + " is out of range for rank " + std::to_string(r));
  Shape out = first.shape;
  out[static_cast<size_t>(*ax)] = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const TensorDesc& d = ctx.input(i);
    if (d.dtype != first.dtype) return ctx.fail("input " + std::to_string(i) + " is " + std::string(dtype_name(d.dtype)) + " but input " + std::to_string(ref) + " is " + std::string(dtype_name(first.dtype)));
    if (d.rank() != r && shape_numel(d.shape) == 0) continue;
    bool ok = d.rank() == r;
    for (int k = 0; ok && k < r; ++k)
      if (k != *ax && d.shape[static_cast<size_t>(k)] != first.shape[static_cast<size_t>(k)]) ok = false;
    if (!ok) return ctx.fail("input " + std::to_string(i) + " has shape " + shape_to_string(d.shape) + ", which does not match input " + std::to_string(ref) + "'s " + shape_to_string(first.shape) + " outside axis " + std::to_string(*ax));
    out[static_cast<size_t>(*ax)] += d.shape[static_cast<size_t>(*ax)];
  }
  ctx.output(0) = TensorDesc::known(first.dtype, out);
  return Status::ok();
}

Status infer_split(InferContext& ctx) {
  const Node& n = ctx.node();
  const Shape& in = ctx.input(0).shape;
  const int r = static_cast<int>(in.size());
  auto ax = normalize_axis(n.attr_int("axis", 0), r);
  if (!ax) return ctx.fail("axis " + std::to_string(n.attr_int("axis", 0)) + " is out of range for rank " + std::to_string(r));
  const int64_t dim = in[static_cast<size_t>(*ax)];
  const int64_t nout = static_cast<int64_t>(ctx.num_outputs());
  std::vector<int64_t> split;
  if (n.opset < 13) {
    split = n.attr_ints("split");
  } else if (ctx.has_input(1)) {
    JOULE_RETURN_IF_ERROR(int_vector_input(ctx, 1, "split", split));
  }
  if (!split.empty()) {
    if (static_cast<int64_t>(split.size()) != nout)
      return ctx.fail("split has " + std::to_string(split.size()) + " sizes for " + std::to_string(nout) + " outputs");
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0 || s > dim) return ctx.fail("split size " + std::to_string(s) + " is invalid for a dim of " + std::to_string(dim));
      sum += s;
    }
    if (sum != dim) return ctx.fail("split sizes " + shape_to_string(split) + " sum to " + std::to_string(sum) + ", not the dim " + std::to_string(dim));
  } else if (n.opset >= 18 && n.has_attr("num_outputs")) {
    // num_outputs: chunks of ceil(dim / num_outputs); the last one gets what is left.
    int64_t parts = n.attr_int("num_outputs", 0);
    if (parts != nout) return ctx.fail("num_outputs is " + std::to_string(parts) + " but the node has " + std::to_string(nout) + " outputs");
    int64_t chunk = (dim + parts - 1) / parts, left = dim;
    for (int64_t i = 0; i < parts; ++i) {
      split.push_back(std::min(chunk, left));
      left -= split.back();
    }
  } else {
    if (dim % nout != 0) return ctx.fail("dim " + std::to_string(dim) + " cannot be split into " + std::to_string(nout) + " equal parts");
    split.assign(static_cast<size_t>(nout), dim / nout);
  }
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    Shape s = in;
    s[static_cast<size_t>(*ax)] = split[i];
    ctx.output(i) = TensorDesc::known(ctx.input(0).dtype, s);
  }
  return Status::ok();
}

// ---- Slice ----------------------------------------------------------------------------------------

Status infer_slice(InferContext& ctx) {
  const Node& n = ctx.node();
  if (n.opset >= 10) {
    if (!ctx.has_input(1) || !ctx.has_input(2)) return ctx.fail("starts and ends inputs are required");
    for (size_t i = 1; i < 5; ++i)
      if (ctx.has_input(i) && !ctx.input_value(i)) return ctx.needs_value(i);
  }
  auto val = [&](size_t i) { return ctx.has_input(i) ? ctx.input_value(i) : nullptr; };
  SliceParams p;
  std::string err = resolve_slice(n, ctx.input(0).shape, val(1), val(2), val(3), val(4), p);
  if (!err.empty()) return ctx.fail(err);
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, p.out);
  return Status::ok();
}

// ---- Expand, Tile ---------------------------------------------------------------------------------

Status infer_expand(InferContext& ctx) {
  std::vector<int64_t> shape;
  JOULE_RETURN_IF_ERROR(int_vector_input(ctx, 1, "shape", shape));
  for (int64_t d : shape)
    if (d < 0) return ctx.fail("shape " + shape_to_string(shape) + " has a negative dim");
  auto out = broadcast_shapes(ctx.input(0).shape, shape);
  if (!out) return ctx.fail("input shape " + shape_to_string(ctx.input(0).shape) + " cannot be expanded to " + shape_to_string(shape));
  JOULE_RETURN_IF_ERROR(guard_size(ctx.node(), *out, ctx.input(0).dtype));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, *out);
  return Status::ok();
}

Status infer_tile(InferContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  std::vector<int64_t> reps;
  JOULE_RETURN_IF_ERROR(int_vector_input(ctx, 1, "repeats", reps));
  if (reps.size() != in.size())
    return ctx.fail("repeats has " + std::to_string(reps.size()) + " values for an input of rank " + std::to_string(in.size()));
  Shape out(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (reps[i] < 0) return ctx.fail("repeats " + shape_to_string(reps) + " has a negative value");
    if (in[i] != 0 && reps[i] > (int64_t{1} << 62) / in[i])
      return resource_limit(ctx.node().label() + ": repeats " + shape_to_string(reps) + " give an absurd output size");
    out[i] = in[i] * reps[i];
  }
  JOULE_RETURN_IF_ERROR(guard_size(ctx.node(), out, ctx.input(0).dtype));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, out);
  return Status::ok();
}

// ---- DepthToSpace, SpaceToDepth (NCHW) -----------------------------------------------------------

Status infer_depth_to_space(InferContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  if (in.size() != 4) return ctx.fail("input must be 4-D NCHW, got " + shape_to_string(in));
  int64_t b = ctx.node().attr_int("blocksize", 0);
  std::string mode = ctx.node().attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return ctx.fail("mode must be DCR or CRD, not '" + mode + "'");
  if (b <= 0 || b > in[1] || in[1] % (b * b) != 0)
    return ctx.fail("blocksize " + std::to_string(b) + " does not divide the " + std::to_string(in[1]) + " channels into blocksize^2 groups");
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, {in[0], in[1] / (b * b), in[2] * b, in[3] * b});
  return Status::ok();
}

Status infer_space_to_depth(InferContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  if (in.size() != 4) return ctx.fail("input must be 4-D NCHW, got " + shape_to_string(in));
  int64_t b = ctx.node().attr_int("blocksize", 0);
  if (b <= 0 || b > std::max<int64_t>(in[2], 1) || b > std::max<int64_t>(in[3], 1) || in[2] % b != 0 || in[3] % b != 0)
    return ctx.fail("blocksize " + std::to_string(b) + " does not divide the spatial dims of " + shape_to_string(in));
  ctx.output(0) = TensorDesc::known(ctx.input(0).dtype, {in[0], in[1] * b * b, in[2] / b, in[3] / b});
  return Status::ok();
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  r.add({"", "Reshape", 1, 2, 1, 1, infer_reshape});
  r.add({"", "Flatten", 1, 1, 1, 1, infer_flatten});
  r.add({"", "Squeeze", 1, 2, 1, 1, infer_squeeze});
  r.add({"", "Unsqueeze", 1, 2, 1, 1, infer_unsqueeze});
  r.add({"", "Transpose", 1, 1, 1, 1, infer_transpose});
  r.add({"", "Concat", 1, -1, 1, 1, infer_concat});
  r.add({"", "Split", 1, 2, 1, kManyOutputs, infer_split});
  r.add({"", "Slice", 1, 5, 1, 1, infer_slice});
  r.add({"", "Expand", 2, 2, 1, 1, infer_expand});
  r.add({"", "Tile", 2, 2, 1, 1, infer_tile});
  r.add({"", "DepthToSpace", 1, 1, 1, 1, infer_depth_to_space});
  r.add({"", "SpaceToDepth", 1, 1, 1, 1, infer_space_to_depth});
  register_shape_generator_ops(r);
}

}  // namespace joule::ops
