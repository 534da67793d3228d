// Op definitions (arity, shape and type inference) for the control family: If, Loop, Scan.
// Their kernels run body graphs (graph attributes) through the session's SubgraphRunner; static
// inference infers shapes inside the bodies and derives what it can of the outputs.
#include "runtime/ops/control_bodies.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"
#include "runtime/passes/passes.h"

namespace joule::ops {

const ir::Graph* body_attr(const ir::Node& n, const char* name) {
  auto it = n.attrs.find(name);
  return it == n.attrs.end() ? nullptr : it->second.g.get();
}

namespace {

ir::Graph* mutable_body(const ir::Node& n, const char* name) {
  auto it = n.attrs.find(name);
  return it == n.attrs.end() ? nullptr : it->second.g.get();
}

// Sets a body input's desc from what the op will pass (only where the op knows more than the body declares).
void bind(ir::Value* v, const ir::TensorDesc& d) {
  if (!v || d.dtype == DType::kUndefined) return;
  if (d.fully_known() || v->desc.dtype == DType::kUndefined || !v->desc.rank_known) v->desc = d;
}

ir::TensorDesc dtype_only(DType t) { return ir::TensorDesc{t, {}, false}; }

ir::TensorDesc desc_of(const ir::Value* v) { return v ? v->desc : ir::TensorDesc{}; }

}  // namespace

Status prepare_control_bodies(const ir::Node& n) {
  if (!n.domain.empty()) return Status::ok();
  if (n.op_type == "If") {
    for (const char* b : {"then_branch", "else_branch"})
      if (ir::Graph* g = mutable_body(n, b)) JOULE_RETURN_IF_ERROR(passes::infer_shapes(*g));
    return Status::ok();
  }
  if (n.op_type == "Loop") {
    ir::Graph* g = mutable_body(n, "body");
    if (!g) return invalid_model(n.label() + ": Loop has no body graph");
    size_t num_carried = n.inputs.size() >= 2 ? n.inputs.size() - 2 : 0;
    if (g->inputs.size() != num_carried + 2)
      return invalid_model(n.label() + ": the body has " + std::to_string(g->inputs.size()) + " inputs, expected " +
                           std::to_string(num_carried + 2) + " (iteration number, condition, " + std::to_string(num_carried) + " loop-carried)");
    bind(g->inputs[0], ir::TensorDesc::known(DType::kI64, {}));
    bind(g->inputs[1], ir::TensorDesc::known(DType::kBool, {}));
    for (size_t i = 0; i < num_carried; ++i) bind(g->inputs[2 + i], desc_of(n.inputs[2 + i]));
    return passes::infer_shapes(*g);
  }
  if (n.op_type == "Scan") {
    ir::Graph* g = mutable_body(n, "body");
    if (!g) return invalid_model(n.label() + ": Scan has no body graph");
    if (n.opset < 9) {
      // Opset 8: inputs sequence_lens (optional), N states [batch, ...], M scan inputs [batch, seq, ...];
      // the body sees one batch row: states without the batch axis, scan slices without batch and seq.
      int64_t m = n.attr_int("num_scan_inputs", 0);
      if (m < 1 || m + 1 > static_cast<int64_t>(n.inputs.size()))
        return invalid_model(n.label() + ": num_scan_inputs " + std::to_string(m) + " is out of range");
      if (g->inputs.size() + 1 != n.inputs.size())
        return invalid_model(n.label() + ": the body has " + std::to_string(g->inputs.size()) + " inputs, expected " +
                             std::to_string(n.inputs.size() - 1));
      const size_t num_state = n.inputs.size() - 1 - static_cast<size_t>(m);
      for (size_t i = 0; i < g->inputs.size(); ++i) {
        ir::TensorDesc d = desc_of(n.inputs[1 + i]);
        const size_t drop = i < num_state ? 1 : 2;
        if (d.rank_known) {
          if (d.rank() < static_cast<int64_t>(drop))
            return invalid_model(n.label() + ": input " + std::to_string(1 + i) + " needs a batch" +
                                 (drop == 2 ? " and a sequence axis" : " axis"));
          d.shape.erase(d.shape.begin(), d.shape.begin() + static_cast<int64_t>(drop));
        }
        bind(g->inputs[i], d);
      }
      return passes::infer_shapes(*g);
    }
    int64_t m = n.attr_int("num_scan_inputs", 0);
    if (m < 1 || m > static_cast<int64_t>(n.inputs.size()))
      return invalid_model(n.label() + ": num_scan_inputs " + std::to_string(m) + " is out of range");
    size_t num_state = n.inputs.size() - static_cast<size_t>(m);
    if (g->inputs.size() != n.inputs.size())
      return invalid_model(n.label() + ": the body has " + std::to_string(g->inputs.size()) + " inputs, expected " +
                           std::to_string(n.inputs.size()));
    std::vector<int64_t> axes = n.attr_ints("scan_input_axes", std::vector<int64_t>(static_cast<size_t>(m), 0));
    for (size_t i = 0; i < num_state; ++i) bind(g->inputs[i], desc_of(n.inputs[i]));
    for (size_t j = 0; j < static_cast<size_t>(m); ++j) {
      ir::TensorDesc d = desc_of(n.inputs[num_state + j]);
      if (d.rank_known && j < axes.size()) {
        int64_t a = axes[j] < 0 ? axes[j] + d.rank() : axes[j];
        if (a < 0 || a >= d.rank()) return invalid_model(n.label() + ": scan_input_axes[" + std::to_string(j) + "] is out of range");
        d.shape.erase(d.shape.begin() + a);
      }
      bind(g->inputs[num_state + j], d);
    }
    return passes::infer_shapes(*g);
  }
  return Status::ok();
}

namespace {

// If: outputs come from the branch the condition picks; shapes may differ per branch.
Status infer_if(InferContext& ctx) {
  const Node& n = ctx.node();
  JOULE_RETURN_IF_ERROR(prepare_control_bodies(n));
  const ir::Graph* t = body_attr(n, "then_branch");
  const ir::Graph* e = body_attr(n, "else_branch");
  if (!t || !e) return ctx.fail("needs both then_branch and else_branch graphs");
  if (t->outputs.size() != n.outputs.size() || e->outputs.size() != n.outputs.size())
    return ctx.fail("the branches must produce " + std::to_string(n.outputs.size()) + " outputs (then gives " +
                    std::to_string(t->outputs.size()) + ", else " + std::to_string(e->outputs.size()) + ")");
  const Tensor* c = ctx.input_value(0);
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    const ir::TensorDesc& a = t->outputs[i]->desc;
    const ir::TensorDesc& b = e->outputs[i]->desc;
    if (a.dtype != DType::kUndefined && b.dtype != DType::kUndefined && a.dtype != b.dtype)
      return ctx.fail("output " + std::to_string(i) + " is " + std::string(dtype_name(a.dtype)) + " in then_branch but " +
                      std::string(dtype_name(b.dtype)) + " in else_branch");
    if (c && c->numel() == 1) {
      ctx.output(i) = c->value_as_int(0) != 0 ? a : b;
    } else if (a.fully_known() && b.fully_known() && a.shape == b.shape) {
      ctx.output(i) = a;
    } else {
      ctx.output(i) = dtype_only(a.dtype != DType::kUndefined ? a.dtype : b.dtype);
    }
  }
  return Status::ok();
}

// Loop: outputs are the final loop-carried values, then the scan outputs stacked on a new first axis.
Status infer_loop(InferContext& ctx) {
  const Node& n = ctx.node();
  JOULE_RETURN_IF_ERROR(prepare_control_bodies(n));
  const ir::Graph* g = body_attr(n, "body");
  if (n.inputs.size() < 2) return ctx.fail("needs the M and cond input slots (either may be empty)");
  size_t num_carried = n.inputs.size() - 2;
  if (g->outputs.size() < num_carried + 1)
    return ctx.fail("the body has " + std::to_string(g->outputs.size()) + " outputs, expected at least " +
                    std::to_string(num_carried + 1) + " (condition and loop-carried values)");
  size_t num_scan = g->outputs.size() - 1 - num_carried;
  if (n.outputs.size() != num_carried + num_scan)
    return ctx.fail("has " + std::to_string(n.outputs.size()) + " outputs but its body gives " +
                    std::to_string(num_carried) + " loop-carried values and " + std::to_string(num_scan) + " scan outputs");
  for (size_t i = 0; i < num_carried; ++i) {
    const ir::TensorDesc& init = ctx.input(2 + i);
    const ir::TensorDesc& out = g->outputs[1 + i]->desc;
    // Known only at a fixed point: the body returns the shape it was given.
    if (out.fully_known() && init.fully_known() && out.shape == init.shape && out.dtype == init.dtype)
      ctx.output(i) = init;
    else
      ctx.output(i) = dtype_only(init.dtype);
  }
  for (size_t k = 0; k < num_scan; ++k) {
    const ir::TensorDesc& d = g->outputs[1 + num_carried + k]->desc;
    ir::TensorDesc o = dtype_only(d.dtype);
    if (d.rank_known) {
      o.rank_known = true;
      o.shape = d.shape;
      o.shape.insert(o.shape.begin(), -1);  // trip count: known only at run time
    }
    ctx.output(num_carried + k) = o;
  }
  return Status::ok();
}

// Scan opset 8 (inputs checked by prepare_control_bodies): final states [batch, ...], then scan
// outputs [batch, seq, ...].
Status infer_scan8(InferContext& ctx, const ir::Graph& g) {
  const Node& n = ctx.node();
  const size_t m = static_cast<size_t>(n.attr_int("num_scan_inputs", 0));
  const size_t num_state = n.inputs.size() - 1 - m;
  if (n.outputs.size() != g.outputs.size())
    return ctx.fail("has " + std::to_string(n.outputs.size()) + " outputs, its body " + std::to_string(g.outputs.size()));
  if (g.outputs.size() < num_state) return ctx.fail("the body gives fewer outputs than there are states");
  if (ctx.has_input(0) && ctx.input(0).dtype != DType::kI64)
    return ctx.fail("sequence_lens has dtype " + std::string(dtype_name(ctx.input(0).dtype)) + ", expected int64");
  auto dirs = n.attr_ints("directions", std::vector<int64_t>(m, 0));
  if (dirs.size() != m) return ctx.fail("directions must have num_scan_inputs entries");
  const TensorDesc& first = ctx.input(1 + num_state);
  const bool lead_known = first.rank_known && first.rank() >= 2;
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const TensorDesc& d = g.outputs[i]->desc;
    if (!d.fully_known() || !lead_known || first.shape[0] < 0 || first.shape[1] < 0) {
      ctx.output(i) = dtype_only(d.dtype);
      continue;
    }
    Shape s = d.shape;
    s.insert(s.begin(), first.shape[0]);
    if (i >= num_state) s.insert(s.begin() + 1, first.shape[1]);
    ctx.output(i) = TensorDesc::known(d.dtype, s);
  }
  return Status::ok();
}

// Scan (opset 9+): final states, then scan outputs with the sequence axis at scan_output_axes.
Status infer_scan(InferContext& ctx) {
  const Node& n = ctx.node();
  JOULE_RETURN_IF_ERROR(prepare_control_bodies(n));
  const ir::Graph* g = body_attr(n, "body");
  if (n.opset < 9) return infer_scan8(ctx, *g);
  size_t m = static_cast<size_t>(n.attr_int("num_scan_inputs", 0));
  if (m < 1 || m > n.inputs.size()) return ctx.fail("num_scan_inputs is out of range");
  size_t num_state = n.inputs.size() - m;
  if (g->outputs.size() < num_state) return ctx.fail("the body gives fewer outputs than there are states");
  size_t num_scan = g->outputs.size() - num_state;
  if (n.outputs.size() != g->outputs.size())
    return ctx.fail("has " + std::to_string(n.outputs.size()) + " outputs, its body " + std::to_string(g->outputs.size()));
  std::vector<int64_t> in_axes = n.attr_ints("scan_input_axes", std::vector<int64_t>(m, 0));
  std::vector<int64_t> out_axes = n.attr_ints("scan_output_axes", std::vector<int64_t>(num_scan, 0));
  if (in_axes.size() != m) return ctx.fail("scan_input_axes must have num_scan_inputs entries");
  if (out_axes.size() != num_scan) return ctx.fail("scan_output_axes must have one entry per scan output");
  const TensorDesc& first = ctx.input(num_state);
  int64_t a0 = in_axes[0] < 0 ? in_axes[0] + first.rank() : in_axes[0];
  if (a0 < 0 || a0 >= first.rank()) return ctx.fail("scan_input_axes[0] is out of range");
  int64_t seq = first.shape[static_cast<size_t>(a0)];
  for (size_t i = 0; i < num_state; ++i) {
    const TensorDesc& out = g->outputs[i]->desc;
    ctx.output(i) = out.fully_known() && out.shape == ctx.input(i).shape ? ctx.input(i) : dtype_only(ctx.input(i).dtype);
  }
  for (size_t k = 0; k < num_scan; ++k) {
    const TensorDesc& d = g->outputs[num_state + k]->desc;
    if (!d.fully_known()) {
      ctx.output(num_state + k) = dtype_only(d.dtype);
      continue;
    }
    int64_t r = d.rank() + 1;
    int64_t a = out_axes[k] < 0 ? out_axes[k] + r : out_axes[k];
    if (a < 0 || a >= r) return ctx.fail("scan_output_axes[" + std::to_string(k) + "] is out of range");
    Shape s = d.shape;
    s.insert(s.begin() + a, seq);
    ctx.output(num_state + k) = TensorDesc::known(d.dtype, s);
  }
  return Status::ok();
}

}  // namespace

void register_control_ops(OpRegistry& r) {
  r.add({"", "If", 1, 1, 1, 1 << 20, infer_if});
  r.add({"", "Loop", 0, -1, 1, 1 << 20, infer_loop});  // M and cond are both optional
  r.add({"", "Scan", 0, -1, 1, 1 << 20, infer_scan});  // opset 8: input 0 (sequence_lens) is optional
}

}  // namespace joule::ops
