// The builtin kernel registry.
#include "kernels/kernel_registry.h"

#include "runtime/ops/op_registry.h"

namespace joule::kernels {

void register_ref_matmul_bias(KernelRegistry& r);  // matmul_bias.cpp: joule.MatMulBias (made by fusion only)
void register_ref_strided_matmul(KernelRegistry& r);  // strided_matmul.cpp: joule.StridedMatMul (made by fusion only)

void KernelRegistry::add(KernelDef def) {
  def.domain = ops::canonical_domain(def.domain);
  defs_[{def.domain, def.op_type}].push_back(std::move(def));
}

const KernelDef* KernelRegistry::select(const KernelQuery& q, Device device, Isa max_isa) const {
  auto it = defs_.find({ops::canonical_domain(q.node.domain), q.node.op_type});
  if (it == defs_.end()) return nullptr;
  const KernelDef* best = nullptr;
  for (const KernelDef& k : it->second) {
    if (k.device != device || k.isa > max_isa) continue;
    if (k.accepts && !k.accepts(q)) continue;
    if (!best || k.priority > best->priority) best = &k;
  }
  return best;
}

const KernelDef* KernelRegistry::reference(std::string_view domain, std::string_view op_type) const {
  auto it = defs_.find({ops::canonical_domain(domain), std::string(op_type)});
  if (it == defs_.end()) return nullptr;
  for (const KernelDef& k : it->second)
    if (k.device == Device::kCpu && k.isa == Isa::kScalar && k.priority == 0) return &k;
  return nullptr;
}

std::vector<const KernelDef*> KernelRegistry::all() const {
  std::vector<const KernelDef*> out;
  for (auto& [key, v] : defs_)
    for (auto& k : v) out.push_back(&k);
  return out;
}

bool KernelRegistry::has_op(std::string_view domain, std::string_view op_type) const {
  return defs_.count({ops::canonical_domain(domain), std::string(op_type)}) != 0;
}

const KernelRegistry& KernelRegistry::builtin() {
  static const KernelRegistry reg = [] {
    KernelRegistry r;
    register_ref_elementwise(r);
    register_ref_activation(r);
    register_ref_nn(r);
    register_ref_linalg(r);
    register_ref_reduce(r);
    register_ref_shape(r);
    register_ref_index(r);
    register_ref_resize_pad(r);
    register_ref_quant(r);
    register_ref_control(r);
    register_ref_rnn(r);
    register_ref_matmul_bias(r);
    register_ref_strided_matmul(r);
    register_ref_matmul_nbits(r);
#ifdef JOULE_WITH_SIMD
    register_cpu_kernels(r);
#endif
#ifdef JOULE_WITH_CUDA
    register_cuda_kernels(r);
#endif
    return r;
  }();
  return reg;
}

}  // namespace joule::kernels
