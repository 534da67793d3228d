// Transpose / scale / addend folding into MatMul (attention blocks as torch.onnx exports them):
//   Q = Transpose(Reshape(x Wq), [0,2,1,3]); K^T = Transpose(Reshape(x Wk), [0,2,3,1]); V likewise
//   S = Add(Div(MatMul(Q, K^T), sqrt(d)), mask);  O = Transpose(MatMul(Softmax(S), V), [0,2,1,3])
// MatMul(Transpose?(A), Transpose?(B)) [-> Mul/Div by a scalar constant] [-> Add(C)] [-> Transpose keeping
// the last axis] becomes one joule.StridedMatMul (runtime/ops/strided_matmul_ops.cpp): the transposes
// turn into strides the GEMM packing reads through, the scale and C are applied to each finished block
// of rows. Each absorbed node must be the only reader of the value it consumes (not a graph output, not
// read by a subgraph), and the fused node must run on an optimized kernel (the reference keeps the
// separate nodes).
#include <map>

#include "kernels/kernel_registry.h"
#include "runtime/ops/infer_helpers.h"
#include "runtime/passes/pattern_fusion.h"

namespace joule::passes {
namespace {

bool fast_kernel_for(const ir::Node& n, Isa isa) {
  kernels::KernelQuery q{n, {}, {}};
  for (ir::Value* v : n.inputs) {
    q.inputs.push_back(v ? v->desc : ir::TensorDesc{});
    q.constant_inputs.push_back(v && v->is_constant() ? &v->constant : nullptr);
  }
  const kernels::KernelDef* k = kernels::KernelRegistry::builtin().select(q, kernels::Device::kCpu, isa);
  return k && k->priority > 0;
}

bool f32_rank(const ir::Value* v, int min_rank) {
  return v && v->desc.dtype == DType::kF32 && v->desc.rank_known && v->desc.rank() >= min_rank;
}

// The perm of Transpose node `t` (absent: reversed axes) for an input of rank `rank`; empty when invalid.
std::vector<int64_t> perm_of(const ir::Node* t, int rank) {
  std::vector<int64_t> p = t->attr_ints("perm", {});
  if (p.empty())
    for (int d = rank - 1; d >= 0; --d) p.push_back(d);
  if (static_cast<int>(p.size()) != rank) return {};
  return p;
}

// Z's shape is known and C broadcasts into it without growing it.
bool fits_into(const ir::Value* c, const ir::TensorDesc& z) {
  if (!f32_rank(c, 0) || !z.fully_known()) return false;
  auto zc = ops::broadcast_shapes(z.shape, c->desc.shape);
  return zc && *zc == z.shape;
}

}  // namespace

Status fuse_transpose_matmul(ir::Graph& g, Isa isa, int& fused) {
  for (bool changed = true; changed;) {
    changed = false;
    ReaderIndex r(g);
    for (auto& np : g.nodes) {
      ir::Node* mm = np.get();
      if (!is_op(mm, "MatMul") || mm->inputs.size() != 2 || !f32_rank(mm->inputs[0], 2) || !f32_rank(mm->inputs[1], 2)) continue;
      std::vector<ir::Node*> absorbed;
      std::vector<ir::Value*> ins = mm->inputs;
      std::map<std::string, ir::Attribute> attrs;
      const char* perm_names[2] = {"perm_a", "perm_b"};
      for (int i = 0; i < 2; ++i) {
        ir::Node* t = ins[static_cast<size_t>(i)]->producer;
        if (!is_op(t, "Transpose") || t->inputs.size() != 1 || !f32_rank(t->inputs[0], 2)) continue;
        if (r.only_reader(t->outputs[0]) != mm || (i == 1 && mm->inputs[0] == mm->inputs[1])) continue;
        std::vector<int64_t> perm = perm_of(t, t->inputs[0]->desc.rank());
        if (perm.empty()) continue;
        ins[static_cast<size_t>(i)] = t->inputs[0];
        attrs[perm_names[i]] = ir::Attribute::of_ints(perm);
        absorbed.push_back(t);
      }
      ir::Value* out = mm->outputs[0];
      const ir::TensorDesc z = out->desc;
      float scale = 0;
      if (ir::Node* s = r.only_reader(out); (is_op(s, "Mul") || is_op(s, "Div")) && s->inputs.size() == 2) {
        const bool div = s->op_type == "Div";
        ir::Value* other = other_input(s, out);
        // Div: only Z / s (s / Z is no scale); the result keeps Z's shape (a one-element constant of rank <= Z's).
        if (other && (!div || s->inputs[0] == out) && scalar_constant(other, scale) && other->constant.rank() <= z.rank() &&
            s->outputs[0]->desc.shape == z.shape && z.rank_known) {
          attrs["scale"] = ir::Attribute::of_float(scale);
          if (div) attrs["scale_div"] = ir::Attribute::of_int(1);
          absorbed.push_back(s);
          out = s->outputs[0];
        }
      }
      if (ir::Node* add = r.only_reader(out); is_op(add, "Add") && add->inputs.size() == 2) {
        ir::Value* c = other_input(add, out);
        if (c && c != out && fits_into(c, z)) {
          ins.push_back(c);
          absorbed.push_back(add);
          out = add->outputs[0];
        }
      }
      if (ir::Node* t = r.only_reader(out); is_op(t, "Transpose") && t->inputs.size() == 1 && z.rank_known) {
        std::vector<int64_t> perm = perm_of(t, z.rank());
        if (!perm.empty() && perm.back() == z.rank() - 1) {
          attrs["perm_y"] = ir::Attribute::of_ints(perm);
          absorbed.push_back(t);
          out = t->outputs[0];
        }
      }
      if (absorbed.empty()) continue;
      ir::Node trial = *mm;
      trial.domain = "joule";
      trial.op_type = "StridedMatMul";
      trial.opset = 1;
      trial.inputs = ins;
      trial.attrs = attrs;
      if (!fast_kernel_for(trial, isa)) continue;  // the reference path keeps the separate nodes
      // C (the Add's other input) may be computed between the MatMul and the Add: then the fused node
      // takes the Add's place in the node order (which stays topological).
      auto pos = [&](const ir::Node* n) {
        for (size_t i = 0; i < g.nodes.size(); ++i)
          if (g.nodes[i].get() == n) return i;
        return g.nodes.size();
      };
      if (ins.size() == 3 && ins[2]->producer && pos(ins[2]->producer) > pos(mm)) {
        const size_t from = pos(mm);
        std::unique_ptr<ir::Node> keep = std::move(g.nodes[from]);
        g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(from));
        const ir::Node* add = absorbed[absorbed.size() - (attrs.count("perm_y") ? 2 : 1)];
        g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(pos(add)), std::move(keep));
      }
      ir::Value* old_out = mm->outputs[0];
      *mm = std::move(trial);
      old_out->producer = nullptr;
      for (ir::Node* n : absorbed) g.remove_node(n);
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
