// Static shape and type inference over the graph, using the ops' inference functions.
#include "runtime/ops/op_registry.h"
#include "runtime/passes/passes.h"

namespace joule::passes {

Status infer_node_shapes(ir::Node& n) {
  const ops::OpDef* op = ops::OpRegistry::builtin().find(n.domain, n.op_type);
  if (!op || !op->infer) return Status::ok();  // unsupported ops are reported by the session
  JOULE_RETURN_IF_ERROR(ops::check_arity(*op, n));
  std::vector<ir::TensorDesc> descs(n.inputs.size());
  std::vector<const Tensor*> values(n.inputs.size(), nullptr);
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const ir::Value* v = n.inputs[i];
    if (!v) continue;
    descs[i] = v->desc;
    if (v->is_constant()) values[i] = &v->constant;
    if (!v->desc.fully_known() || v->desc.dtype == DType::kUndefined) return Status::ok();
  }
  ops::InferContext ctx(n, std::move(descs), std::move(values), n.outputs.size());
  Status st = op->infer(ctx);
  if (!st.is_ok()) {
    // A shape that depends on a run-time value is not an error here; anything else is.
    if (st.code() == StatusCode::kResourceLimit || st.code() == StatusCode::kInvalidModel ||
        st.code() == StatusCode::kUnsupported)
      return st;
    return Status::ok();
  }
  for (size_t i = 0; i < n.outputs.size(); ++i)
    if (n.outputs[i] && ctx.output(i).dtype != DType::kUndefined) n.outputs[i]->desc = ctx.output(i);
  return Status::ok();
}

Status infer_shapes(ir::Graph& g, const std::map<std::string, Shape>& input_shapes) {
  for (ir::Value* in : g.inputs) {
    auto it = input_shapes.find(in->name);
    if (it == input_shapes.end()) continue;
    const Shape& s = it->second;
    if (in->desc.rank_known && static_cast<int>(s.size()) != in->desc.rank())
      return invalid_argument("input '" + in->name + "': shape " + shape_to_string(s) + " has rank " +
                              std::to_string(s.size()) + " but the model declares rank " + std::to_string(in->desc.rank()));
    for (size_t i = 0; in->desc.rank_known && i < s.size(); ++i)
      if (in->desc.shape[i] >= 0 && in->desc.shape[i] != s[i])
        return invalid_argument("input '" + in->name + "': dim " + std::to_string(i) + " is fixed at " +
                                std::to_string(in->desc.shape[i]) + " by the model, not " + std::to_string(s[i]));
    in->desc.shape = s;
    in->desc.rank_known = true;
  }
  for (auto& np : g.nodes) JOULE_RETURN_IF_ERROR(infer_node_shapes(*np));
  return Status::ok();
}

}  // namespace joule::passes
