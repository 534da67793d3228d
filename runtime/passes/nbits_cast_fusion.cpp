// Folds Cast(f32 -> f16) -> MatMulNBits -> Cast(f16 -> f32) into one MatMulNBits on f32 activations with f16
// scales (contract in nbits_cast_fusion.h; the format in runtime/ops/matmul_nbits_format.h).
#include "runtime/passes/nbits_cast_fusion.h"

#include "runtime/passes/pattern_fusion.h"

namespace joule::passes {

Status fold_nbits_f16_casts(ir::Graph& g, int& fused) {
  for (bool changed = true; changed;) {
    changed = false;
    ReaderIndex r(g);
    for (auto& np : g.nodes) {
      ir::Node* mm = np.get();
      if (mm->op_type != "MatMulNBits" || mm->domain != "com.microsoft" || mm->inputs.empty() || !mm->inputs[0] ||
          mm->outputs.empty() || !mm->outputs[0])
        continue;
      ir::Node* ca = mm->inputs[0]->producer;
      if (!is_op(ca, "Cast") || ca->attr_int("to", 0) != 10 || ca->inputs.empty() || !ca->inputs[0] ||
          ca->inputs[0]->desc.dtype != DType::kF32 || r.only_reader(mm->inputs[0]) != mm)
        continue;
      ir::Node* cy = r.only_reader(mm->outputs[0]);
      if (!is_op(cy, "Cast") || cy->attr_int("to", 0) != 1) continue;
      ir::Value* x = ca->inputs[0];
      ir::Value* y = cy->outputs[0];
      mm->outputs[0]->producer = nullptr;
      g.remove_node(cy);
      g.remove_node(ca);
      mm->inputs[0] = x;
      mm->outputs[0] = y;
      y->producer = mm;
      ++fused;
      changed = true;
      break;  // nodes were removed: rebuild the reader index
    }
  }
  return Status::ok();
}

}  // namespace joule::passes
