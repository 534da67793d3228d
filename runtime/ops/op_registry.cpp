// The builtin op registry.
#include "runtime/ops/op_registry.h"

namespace joule::ops {

void register_matmul_bias_ops(OpRegistry& r);  // matmul_bias_ops.cpp: joule.MatMulBias (made by fusion only)
void register_strided_matmul_ops(OpRegistry& r);  // strided_matmul_ops.cpp: joule.StridedMatMul (made by fusion only)

std::string canonical_domain(std::string_view domain) {
  if (domain == "ai.onnx") return "";
  return std::string(domain);
}

Status check_arity(const OpDef& op, const ir::Node& n) {
  auto range = [](int lo, int hi) {
    if (hi < 0) return std::to_string(lo) + " or more";
    return lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
  };
  int nin = static_cast<int>(n.inputs.size()), nout = static_cast<int>(n.outputs.size());
  if (nin < op.min_inputs || (op.max_inputs >= 0 && nin > op.max_inputs))
    return invalid_model(n.label() + ": has " + std::to_string(nin) + " inputs, expected " + range(op.min_inputs, op.max_inputs));
  for (int i = 0; i < op.min_inputs; ++i)
    if (!n.inputs[static_cast<size_t>(i)]) return invalid_model(n.label() + ": required input " + std::to_string(i) + " is empty");
  if (nout < op.min_outputs || nout > op.max_outputs)
    return invalid_model(n.label() + ": has " + std::to_string(nout) + " outputs, expected " + range(op.min_outputs, op.max_outputs));
  return Status::ok();
}

void OpRegistry::add(OpDef def) {
  def.domain = canonical_domain(def.domain);
  auto key = std::make_pair(def.domain, def.op_type);
  defs_[key] = std::move(def);
}

const OpDef* OpRegistry::find(std::string_view domain, std::string_view op_type) const {
  auto it = defs_.find(std::make_pair(canonical_domain(domain), std::string(op_type)));
  return it == defs_.end() ? nullptr : &it->second;
}

std::vector<const OpDef*> OpRegistry::all() const {
  std::vector<const OpDef*> out;
  for (auto& [k, d] : defs_) out.push_back(&d);
  return out;
}

const OpRegistry& OpRegistry::builtin() {
  static const OpRegistry reg = [] {
    OpRegistry r;
    register_elementwise_ops(r);
    register_activation_ops(r);
    register_nn_ops(r);
    register_linalg_ops(r);
    register_reduce_ops(r);
    register_shape_ops(r);
    register_index_ops(r);
    register_resize_pad_ops(r);
    register_quant_ops(r);
    register_control_ops(r);
    register_rnn_ops(r);
    register_matmul_bias_ops(r);
    register_strided_matmul_ops(r);
    register_matmul_nbits_ops(r);
    return r;
  }();
  return reg;
}

}  // namespace joule::ops
