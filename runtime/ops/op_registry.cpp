// The builtin op registry.
#include "runtime/ops/op_registry.h"

namespace joule::ops {

std::string canonical_domain(std::string_view domain) {
  if (domain == "ai.onnx") return "";
  return std::string(domain);
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
    return r;
  }();
  return reg;
}

}  // namespace joule::ops
