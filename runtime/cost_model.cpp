// MAC counting from shapes: the dominant cost of the ops that matter for energy.
#include "runtime/cost_model.h"

#include "runtime/ops/einsum_equation.h"

namespace joule {

int64_t node_macs(const ir::Node& n) {
  if (!n.domain.empty()) return 0;
  auto known = [&](size_t i) { return n.has_input(i) && n.inputs[i]->desc.fully_known(); };
  auto out_known = [&] { return !n.outputs.empty() && n.outputs[0] && n.outputs[0]->desc.fully_known(); };
  const std::string& op = n.op_type;
  if (op == "Conv" || op == "ConvInteger" || op == "QLinearConv") {
    size_t wi = op == "QLinearConv" ? 3 : 1;
    if (!known(wi) || !out_known()) return -1;
    const Shape& w = n.inputs[wi]->desc.shape;  // [OC, IC/g, k...]
    int64_t per_out = 1;
    for (size_t i = 1; i < w.size(); ++i) per_out *= w[i];
    return shape_numel(n.outputs[0]->desc.shape) * per_out;
  }
  if (op == "ConvTranspose") {
    if (!known(0) || !known(1)) return -1;
    const Shape& x = n.inputs[0]->desc.shape;  // [N, C, spatial...]
    const Shape& w = n.inputs[1]->desc.shape;  // [C, OC/g, k...]
    int64_t per_in = 1;
    for (size_t i = 1; i < w.size(); ++i) per_in *= w[i];
    return shape_numel(x) * per_in;
  }
  if (op == "Gemm" || op == "MatMul" || op == "MatMulInteger" || op == "QLinearMatMul") {
    size_t ai = op == "QLinearMatMul" ? 0 : 0;
    if (!known(ai) || !out_known()) return -1;
    const Shape& a = n.inputs[ai]->desc.shape;
    int64_t k = a.empty() ? 1 : a.back();
    if (op == "Gemm" && n.attr_int("transA", 0) && a.size() == 2) k = a[0];
    return shape_numel(n.outputs[0]->desc.shape) * k;
  }
  if (op == "Einsum") {
    // One multiply per operand pair for every combination of all labels (output and summed).
    std::vector<Shape> shapes;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (!known(i)) return -1;
      shapes.push_back(n.inputs[i]->desc.shape);
    }
    ops::EinsumPlan plan;
    if (!ops::plan_einsum(n.attr_string("equation", ""), shapes, plan).is_ok()) return -1;
    int64_t combos = 1;
    for (int64_t s : plan.label_size) combos *= s;
    return combos * static_cast<int64_t>(shapes.size() > 1 ? shapes.size() - 1 : 0);
  }
  return 0;
}

CostSummary estimate_cost(const ir::Graph& g) {
  CostSummary c;
  for (auto& n : g.nodes) {
    int64_t m = node_macs(*n);
    if (m < 0) c.complete = false;
    else c.macs += m;
  }
  return c;
}

}  // namespace joule
