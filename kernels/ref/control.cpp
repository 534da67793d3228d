// Reference kernels for the control family: If, Loop, Scan. They run their body graphs through
// ctx.subgraphs (the session's SubgraphRunner) and assign their outputs themselves, since output
// shapes are known only once a body has run.
#include <cstring>

#include "kernels/kernel_registry.h"
#include "runtime/ops/control_bodies.h"

namespace joule::kernels {

namespace {

// Loops stop with a clean error instead of running (practically) forever.
constexpr int64_t kMaxIterations = int64_t{1} << 24;

Status need_runner(const KernelContext& ctx) {
  if (!ctx.subgraphs) return ctx.fail_unsupported("runs body graphs, which needs a session");
  return Status::ok();
}

bool truthy(const Tensor& t) { return t.value_as_int(0) != 0; }

size_t elem_bytes(const KernelContext& ctx, DType t, Status& st) {
  size_t b = dtype_size(t);
  if (b == 0) st = ctx.fail_unsupported(std::string("cannot slice or stack ") + std::string(dtype_name(t)) + " tensors");
  return b;
}

// Element `idx` along `axis` of `t` (the axis removed). Layout: row-major, outer x dim x inner.
Status take_along(const KernelContext& ctx, const Tensor& t, int axis, int64_t idx, Tensor& out) {
  Status st;
  size_t eb = elem_bytes(ctx, t.dtype(), st);
  if (!st.is_ok()) return st;
  Shape s = t.shape();
  int64_t dim = s[static_cast<size_t>(axis)];
  s.erase(s.begin() + axis);
  out = Tensor(t.dtype(), s);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= t.dim(i);
  for (int i = axis + 1; i < t.rank(); ++i) inner *= t.dim(i);
  size_t row = static_cast<size_t>(inner) * eb;
  auto* dst = static_cast<std::byte*>(out.raw());
  auto* src = static_cast<const std::byte*>(t.raw());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(dst + static_cast<size_t>(o) * row, src + static_cast<size_t>(o * dim + idx) * row, row);
  return Status::ok();
}

// Stacks equal-shaped `parts` along a new `axis` (part t lands at position T-1-t when `reverse`).
// `elem` gives dtype and per-part shape when there are no parts.
Status stack_along(const KernelContext& ctx, const std::vector<Tensor>& parts, int64_t axis, bool reverse,
                   DType dtype, const Shape& part_shape, uint64_t max_bytes, Tensor& out) {
  Status st;
  size_t eb = elem_bytes(ctx, dtype, st);
  if (!st.is_ok()) return st;
  int64_t T = static_cast<int64_t>(parts.size());
  int64_t r = static_cast<int64_t>(part_shape.size()) + 1;
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return ctx.fail("scan output axis " + std::to_string(axis) + " is out of range");
  for (const Tensor& p : parts)
    if (p.dtype() != dtype || p.shape() != part_shape)
      return ctx.fail("scan output changes shape between iterations (" + shape_to_string(part_shape) + " then " +
                      shape_to_string(p.shape()) + ")");
  Shape s = part_shape;
  s.insert(s.begin() + axis, T);
  if (storage_bytes(dtype, shape_numel(s)) > max_bytes)
    return resource_limit(ctx.node.label() + ": scan output of shape " + shape_to_string(s) + " exceeds the tensor size limit");
  out = Tensor(dtype, s);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= part_shape[static_cast<size_t>(i)];
  for (int64_t i = axis; i < r - 1; ++i) inner *= part_shape[static_cast<size_t>(i)];
  size_t row = static_cast<size_t>(inner) * eb;
  auto* dst = static_cast<std::byte*>(out.raw());
  for (int64_t t = 0; t < T; ++t) {
    int64_t pos = reverse ? T - 1 - t : t;
    auto* src = static_cast<const std::byte*>(parts[static_cast<size_t>(t)].raw());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + static_cast<size_t>(o * T + pos) * row, src + static_cast<size_t>(o) * row, row);
  }
  return Status::ok();
}

// Per-iteration shape of a scan output that never ran: the body's static desc when known, else scalar.
void empty_part(const ir::Value* v, DType& dtype, Shape& shape) {
  dtype = v->desc.dtype == DType::kUndefined ? DType::kF32 : v->desc.dtype;
  shape = v->desc.fully_known() ? v->desc.shape : Shape{};
}

Status run_if(KernelContext& ctx) {
  JOULE_RETURN_IF_ERROR(need_runner(ctx));
  const Tensor& c = ctx.in(0);
  if (c.numel() != 1) return ctx.fail("condition must have exactly one element, got shape " + shape_to_string(c.shape()));
  const ir::Graph* body = ops::body_attr(ctx.node, truthy(c) ? "then_branch" : "else_branch");
  if (!body) return ctx.fail("missing branch graph");
  std::vector<Tensor> outs;
  JOULE_RETURN_IF_ERROR(ctx.subgraphs->run(*body, {}, outs));
  if (outs.size() != ctx.outputs.size())
    return ctx.fail("branch '" + body->name + "' gives " + std::to_string(outs.size()) + " outputs, the node has " +
                    std::to_string(ctx.outputs.size()));
  for (size_t i = 0; i < outs.size(); ++i)
    if (ctx.has_output(i)) ctx.out(i) = std::move(outs[i]);
  return Status::ok();
}

// Loop semantics (ONNX): for (i = 0; i < M && cond; ++i) { cond, v..., scan... = body(i, cond, v...) }.
// Without M the trip count is unbounded; without the cond input the body's condition is ignored.
Status run_loop(KernelContext& ctx) {
  JOULE_RETURN_IF_ERROR(need_runner(ctx));
  const ir::Graph* body = ops::body_attr(ctx.node, "body");
  if (!body) return ctx.fail("missing body graph");
  if (ctx.num_inputs() < 2) return ctx.fail("needs the M and cond input slots (either may be empty)");
  bool has_m = ctx.has_input(0), has_cond = ctx.has_input(1);
  if (has_m && ctx.in(0).numel() != 1) return ctx.fail("M (max trip count) must have one element");
  if (has_cond && ctx.in(1).numel() != 1) return ctx.fail("cond must have one element");
  int64_t M = has_m ? ctx.in(0).value_as_int(0) : INT64_MAX;
  bool cond = has_cond ? truthy(ctx.in(1)) : true;
  if (!has_m && !has_cond) return resource_limit(ctx.node.label() + ": Loop has neither a trip count nor a condition, so it never ends");
  if (!has_cond && M > kMaxIterations)
    return resource_limit(ctx.node.label() + ": trip count " + std::to_string(M) + " is over the limit of " + std::to_string(kMaxIterations));
  size_t N = ctx.num_inputs() - 2;
  size_t K = ctx.outputs.size() - N;
  std::vector<Tensor> v(N);
  for (size_t j = 0; j < N; ++j) {
    if (!ctx.has_input(2 + j)) return ctx.fail("loop-carried input " + std::to_string(j) + " is missing");
    v[j] = ctx.in(2 + j);
  }
  std::vector<std::vector<Tensor>> scans(K);
  uint64_t scan_bytes = 0, max_bytes = ctx.subgraphs->max_tensor_bytes();
  std::vector<const Tensor*> ins(N + 2);
  std::vector<Tensor> outs;
  int64_t i = 0;
  for (; i < M && cond; ++i) {
    if (i >= kMaxIterations)
      return resource_limit(ctx.node.label() + ": more than " + std::to_string(kMaxIterations) + " iterations");
    Tensor it = Tensor::scalar<int64_t>(i), cd = Tensor::scalar<bool>(cond);
    ins[0] = &it;
    ins[1] = &cd;
    for (size_t j = 0; j < N; ++j) ins[2 + j] = &v[j];
    JOULE_RETURN_IF_ERROR(ctx.subgraphs->run(*body, ins, outs));
    if (outs.size() != 1 + N + K)
      return ctx.fail("body gives " + std::to_string(outs.size()) + " outputs, expected " + std::to_string(1 + N + K));
    if (has_cond) {
      if (outs[0].numel() != 1) return ctx.fail("body condition output must have one element");
      cond = truthy(outs[0]);
    }
    for (size_t j = 0; j < N; ++j) v[j] = std::move(outs[1 + j]);
    for (size_t k = 0; k < K; ++k) {
      scan_bytes += outs[1 + N + k].nbytes();
      if (scan_bytes > max_bytes)
        return resource_limit(ctx.node.label() + ": scan outputs grow past the tensor size limit after " + std::to_string(i + 1) + " iterations");
      scans[k].push_back(std::move(outs[1 + N + k]));
    }
  }
  for (size_t j = 0; j < N; ++j)
    if (ctx.has_output(j)) ctx.out(j) = i == 0 ? v[j].clone() : v[j];  // never alias the inputs
  for (size_t k = 0; k < K; ++k) {
    if (!ctx.has_output(N + k)) continue;
    DType dt;
    Shape s;
    if (scans[k].empty()) empty_part(body->outputs[1 + N + k], dt, s);
    else dt = scans[k][0].dtype(), s = scans[k][0].shape();
    JOULE_RETURN_IF_ERROR(stack_along(ctx, scans[k], 0, false, dt, s, max_bytes, ctx.out(N + k)));
  }
  return Status::ok();
}

// Scan opset 8: inputs sequence_lens (optional, int64 [batch]), N states [batch, ...] and M scan
// inputs [batch, seq, ...]. Each batch row b runs the body sequence_lens[b] times (all seq when
// absent) on its own states, scan input j read backwards where directions[j] is 1. Outputs: final
// states [batch, ...] and scan outputs [batch, seq, ...], zero past each row's length (as ONNX Runtime).
Status run_scan8(KernelContext& ctx) {
  const ir::Graph* body = ops::body_attr(ctx.node, "body");
  if (!body) return ctx.fail("missing body graph");
  const size_t m = static_cast<size_t>(ctx.node.attr_int("num_scan_inputs", 0));
  if (m < 1 || m + 1 > ctx.num_inputs()) return ctx.fail("num_scan_inputs is out of range");
  const size_t N = ctx.num_inputs() - 1 - m;
  if (ctx.outputs.size() < N) return ctx.fail("fewer outputs than states");
  const size_t K = ctx.outputs.size() - N;
  auto dirs = ctx.node.attr_ints("directions", std::vector<int64_t>(m, 0));
  if (dirs.size() != m) return ctx.fail("directions must have one entry per scan input");
  int64_t B = -1, T = -1;
  for (size_t i = 0; i < N + m; ++i) {
    if (!ctx.has_input(1 + i)) return ctx.fail("input " + std::to_string(1 + i) + " is missing");
    const Tensor& x = ctx.in(1 + i);
    const bool scan = i >= N;
    if (x.rank() < (scan ? 2 : 1))
      return ctx.fail("input " + std::to_string(1 + i) + " has shape " + shape_to_string(x.shape()) + ", expected [batch" +
                      (scan ? ", seq, ...]" : ", ...]"));
    if (B >= 0 && x.dim(0) != B) return ctx.fail("inputs have different batch sizes (" + std::to_string(B) + " and " + std::to_string(x.dim(0)) + ")");
    B = x.dim(0);
    if (scan) {
      if (T >= 0 && x.dim(1) != T) return ctx.fail("scan inputs have different sequence lengths");
      T = x.dim(1);
    }
  }
  std::vector<int64_t> lens(static_cast<size_t>(B), T);
  if (ctx.has_input(0)) {
    const Tensor& l = ctx.in(0);
    if (l.numel() != B) return ctx.fail("sequence_lens has " + std::to_string(l.numel()) + " entries, expected batch " + std::to_string(B));
    for (int64_t b = 0; b < B; ++b) {
      lens[static_cast<size_t>(b)] = l.value_as_int(b);
      if (lens[static_cast<size_t>(b)] < 0 || lens[static_cast<size_t>(b)] > T)
        return ctx.fail("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(lens[static_cast<size_t>(b)]) +
                        " is outside [0, " + std::to_string(T) + "]");
    }
  }
  std::vector<std::vector<Tensor>> final_states(N);                 // [state][batch]
  std::vector<std::vector<std::vector<Tensor>>> scans(K, std::vector<std::vector<Tensor>>(static_cast<size_t>(B)));
  std::vector<Tensor> states(N), rows(m), slices(m), outs;
  std::vector<const Tensor*> ins(N + m);
  for (int64_t b = 0; b < B; ++b) {
    for (size_t i = 0; i < N; ++i) JOULE_RETURN_IF_ERROR(take_along(ctx, ctx.in(1 + i), 0, b, states[i]));
    for (size_t j = 0; j < m; ++j) JOULE_RETURN_IF_ERROR(take_along(ctx, ctx.in(1 + N + j), 0, b, rows[j]));
    const int64_t len = lens[static_cast<size_t>(b)];
    for (int64_t t = 0; t < len; ++t) {
      for (size_t j = 0; j < m; ++j) {
        JOULE_RETURN_IF_ERROR(take_along(ctx, rows[j], 0, dirs[j] ? len - 1 - t : t, slices[j]));
        ins[N + j] = &slices[j];
      }
      for (size_t i = 0; i < N; ++i) ins[i] = &states[i];
      JOULE_RETURN_IF_ERROR(ctx.subgraphs->run(*body, ins, outs));
      if (outs.size() != N + K) return ctx.fail("body gives " + std::to_string(outs.size()) + " outputs, expected " + std::to_string(N + K));
      for (size_t i = 0; i < N; ++i) states[i] = std::move(outs[i]);
      for (size_t k = 0; k < K; ++k) scans[k][static_cast<size_t>(b)].push_back(std::move(outs[N + k]));
    }
    for (size_t i = 0; i < N; ++i) final_states[i].push_back(std::move(states[i]));
  }
  const uint64_t max_bytes = ctx.subgraphs->max_tensor_bytes();
  for (size_t i = 0; i < N; ++i) {
    if (!ctx.has_output(i)) continue;
    Shape s = ctx.in(1 + i).shape();
    s.erase(s.begin());
    JOULE_RETURN_IF_ERROR(stack_along(ctx, final_states[i], 0, false, ctx.in(1 + i).dtype(), s, max_bytes, ctx.out(i)));
  }
  for (size_t k = 0; k < K; ++k) {
    if (!ctx.has_output(N + k)) continue;
    DType dt;
    Shape part;
    empty_part(body->outputs[N + k], dt, part);
    for (const auto& row : scans[k])
      if (!row.empty()) {
        dt = row[0].dtype(), part = row[0].shape();
        break;
      }
    // Pad each row to T iterations with zeros, stack the T parts, then stack the rows.
    Tensor zero(dt, part);
    std::memset(zero.raw(), 0, zero.nbytes());
    std::vector<Tensor> per_batch(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      std::vector<Tensor>& row = scans[k][static_cast<size_t>(b)];
      while (static_cast<int64_t>(row.size()) < T) row.push_back(zero);
      JOULE_RETURN_IF_ERROR(stack_along(ctx, row, 0, false, dt, part, max_bytes, per_batch[static_cast<size_t>(b)]));
    }
    Shape row_shape = part;
    row_shape.insert(row_shape.begin(), T);
    JOULE_RETURN_IF_ERROR(stack_along(ctx, per_batch, 0, false, dt, row_shape, max_bytes, ctx.out(N + k)));
  }
  return Status::ok();
}

// Scan (opset 9+): iterates over slices of the scan inputs along scan_input_axes (reversed where
// scan_input_directions is 1), threading N states; scan outputs are stacked along scan_output_axes.
Status run_scan(KernelContext& ctx) {
  JOULE_RETURN_IF_ERROR(need_runner(ctx));
  if (ctx.node.opset < 9) return run_scan8(ctx);
  const ir::Graph* body = ops::body_attr(ctx.node, "body");
  if (!body) return ctx.fail("missing body graph");
  size_t m = static_cast<size_t>(ctx.node.attr_int("num_scan_inputs", 0));
  if (m < 1 || m > ctx.num_inputs()) return ctx.fail("num_scan_inputs is out of range");
  size_t N = ctx.num_inputs() - m;
  if (ctx.outputs.size() < N) return ctx.fail("fewer outputs than states");
  size_t K = ctx.outputs.size() - N;
  auto in_axes = ctx.node.attr_ints("scan_input_axes", std::vector<int64_t>(m, 0));
  auto in_dirs = ctx.node.attr_ints("scan_input_directions", std::vector<int64_t>(m, 0));
  auto out_axes = ctx.node.attr_ints("scan_output_axes", std::vector<int64_t>(K, 0));
  auto out_dirs = ctx.node.attr_ints("scan_output_directions", std::vector<int64_t>(K, 0));
  if (in_axes.size() != m || in_dirs.size() != m || out_axes.size() != K || out_dirs.size() != K)
    return ctx.fail("scan axis/direction attributes must have one entry per scan input/output");
  int64_t T = -1;
  std::vector<int> axes(m);
  for (size_t j = 0; j < m; ++j) {
    if (!ctx.has_input(N + j)) return ctx.fail("scan input " + std::to_string(j) + " is missing");
    const Tensor& x = ctx.in(N + j);
    int64_t a = in_axes[j] < 0 ? in_axes[j] + x.rank() : in_axes[j];
    if (a < 0 || a >= x.rank()) return ctx.fail("scan_input_axes[" + std::to_string(j) + "] is out of range for rank " + std::to_string(x.rank()));
    axes[j] = static_cast<int>(a);
    if (T >= 0 && x.dim(axes[j]) != T) return ctx.fail("scan inputs have different sequence lengths");
    T = x.dim(axes[j]);
  }
  std::vector<Tensor> states(N);
  for (size_t i = 0; i < N; ++i) {
    if (!ctx.has_input(i)) return ctx.fail("state input " + std::to_string(i) + " is missing");
    states[i] = ctx.in(i);
  }
  std::vector<std::vector<Tensor>> scans(K);
  std::vector<Tensor> slices(m), outs;
  std::vector<const Tensor*> ins(N + m);
  for (int64_t t = 0; t < T; ++t) {
    for (size_t j = 0; j < m; ++j) {
      int64_t idx = in_dirs[j] ? T - 1 - t : t;
      JOULE_RETURN_IF_ERROR(take_along(ctx, ctx.in(N + j), axes[j], idx, slices[j]));
      ins[N + j] = &slices[j];
    }
    for (size_t i = 0; i < N; ++i) ins[i] = &states[i];
    JOULE_RETURN_IF_ERROR(ctx.subgraphs->run(*body, ins, outs));
    if (outs.size() != N + K) return ctx.fail("body gives " + std::to_string(outs.size()) + " outputs, expected " + std::to_string(N + K));
    for (size_t i = 0; i < N; ++i) states[i] = std::move(outs[i]);
    for (size_t k = 0; k < K; ++k) scans[k].push_back(std::move(outs[N + k]));
  }
  for (size_t i = 0; i < N; ++i)
    if (ctx.has_output(i)) ctx.out(i) = T == 0 ? states[i].clone() : states[i];
  for (size_t k = 0; k < K; ++k) {
    if (!ctx.has_output(N + k)) continue;
    DType dt;
    Shape s;
    if (scans[k].empty()) empty_part(body->outputs[N + k], dt, s);
    else dt = scans[k][0].dtype(), s = scans[k][0].shape();
    JOULE_RETURN_IF_ERROR(stack_along(ctx, scans[k], out_axes[k], out_dirs[k] != 0, dt, s,
                                      ctx.subgraphs->max_tensor_bytes(), ctx.out(N + k)));
  }
  return Status::ok();
}

KernelDef control_kernel(const char* op, const char* name, KernelFn fn) {
  KernelDef d;
  d.op_type = op;
  d.name = name;
  d.run = fn;
  d.allocates_outputs = true;
  return d;
}

}  // namespace

void register_ref_control(KernelRegistry& r) {
  r.add(control_kernel("If", "if__ref", run_if));
  r.add(control_kernel("Loop", "loop__ref", run_loop));
  r.add(control_kernel("Scan", "scan__ref", run_scan));
}

}  // namespace joule::kernels
