// MatMul + Add(bias) fusion: MatMul(A, B) whose only reader adds a per-column constant becomes
// joule.MatMulBias(A, B, bias) (runtime/ops/matmul_bias_ops.cpp), the bias applied in the GEMM epilogue.
#include "kernels/kernel_registry.h"
#include "runtime/passes/pattern_fusion.h"

namespace joule::passes {
namespace {

// The bias as a 1-D [n] constant: `v` itself or a flattened copy of a [1, ..., 1, n] constant whose
// rank does not exceed the MatMul output's (so the Add broadcasts along the last axis only; an output
// rank of -1, unknown, admits a 1-D bias only).
ir::Value* column_bias(ir::Graph& g, ir::Value* v, int64_t n, int out_rank) {
  if (!v || !v->is_constant() || v->constant.dtype() != DType::kF32) return nullptr;
  const Tensor& t = v->constant;
  if (t.rank() < 1 || (t.rank() > 1 && t.rank() > out_rank) || t.dim(t.rank() - 1) != n || t.numel() != n) return nullptr;
  if (t.rank() == 1) return v;
  Tensor flat(DType::kF32, {n});
  for (int64_t j = 0; j < n; ++j) flat.data<float>()[j] = t.data<float>()[j];
  ir::Value* out = g.add_constant(v->name + "_bias1d", std::move(flat));
  out->desc = ir::TensorDesc::known(DType::kF32, {n});
  return out;
}

// True when an optimized kernel (priority > 0) would run `n` at `isa`.
bool fast_kernel_for(const ir::Node& n, Isa isa) {
  kernels::KernelQuery q{n, {}, {}};
  for (ir::Value* v : n.inputs) {
    q.inputs.push_back(v ? v->desc : ir::TensorDesc{});
    q.constant_inputs.push_back(v && v->is_constant() ? &v->constant : nullptr);
  }
  const kernels::KernelDef* k = kernels::KernelRegistry::builtin().select(q, kernels::Device::kCpu, isa);
  return k && k->priority > 0;
}

}  // namespace

Status fuse_matmul_bias(ir::Graph& g, Isa isa, int& fused) {
  for (bool changed = true; changed;) {
    changed = false;
    ReaderIndex r(g);
    for (auto& np : g.nodes) {
      ir::Node* mm = np.get();
      if (!is_op(mm, "MatMul") || mm->inputs.size() != 2 || !mm->inputs[0] || !mm->inputs[1]) continue;
      const ir::Value* b = mm->inputs[1];
      const ir::TensorDesc& ad = mm->inputs[0]->desc;
      if (!b->is_constant() || b->constant.dtype() != DType::kF32 || b->constant.rank() != 2) continue;
      if ((ad.rank_known && ad.rank() < 1) || (ad.dtype != DType::kF32 && ad.dtype != DType::kUndefined)) continue;
      ir::Node* add = r.only_reader(mm->outputs[0]);
      if (!is_op(add, "Add")) continue;
      ir::Value* bias = column_bias(g, other_input(add, mm->outputs[0]), b->constant.dim(1), ad.rank_known ? ad.rank() : -1);
      if (!bias) continue;
      auto saved_inputs = mm->inputs;
      mm->domain = "joule";
      mm->op_type = "MatMulBias";
      mm->opset = 1;
      mm->inputs.push_back(bias);
      if (!fast_kernel_for(*mm, isa)) {  // the reference path keeps MatMul + Add as they are
        mm->domain.clear();
        mm->op_type = "MatMul";
        mm->inputs = saved_inputs;
        continue;
      }
      ir::Value* out = add->outputs[0];
      mm->outputs[0]->producer = nullptr;
      g.remove_node(add);
      mm->outputs[0] = out;
      out->producer = mm;
      ++fused;
      changed = true;
      break;  // nodes were removed: rebuild the reader index
    }
  }
  return Status::ok();
}

}  // namespace joule::passes
