// BatchNorm statistics re-estimation after pruning (see reestimate_bn in prune.h for the formula).
#include <cmath>

#include "prune/prune.h"

namespace joule::prune {

namespace {

// Per-channel mean and standard deviation over axis 1 of [N, C, ...] samples.
void channel_moments(const std::vector<Tensor>& xs, int64_t channels, std::vector<double>& mean,
                     std::vector<double>& sd) {
  std::vector<double> s1(static_cast<size_t>(channels), 0.0), s2(static_cast<size_t>(channels), 0.0);
  double count = 0;
  for (const Tensor& x : xs) {
    int64_t n = x.dim(0), c = x.dim(1), inner = x.numel() / std::max<int64_t>(1, n * c);
    const float* p = x.data<float>();
    for (int64_t b = 0; b < n; ++b)
      for (int64_t ch = 0; ch < c && ch < channels; ++ch)
        for (int64_t i = 0; i < inner; ++i) {
          double v = p[(b * c + ch) * inner + i];
          s1[static_cast<size_t>(ch)] += v;
          s2[static_cast<size_t>(ch)] += v * v;
        }
    count += static_cast<double>(n * inner);
  }
  mean.assign(static_cast<size_t>(channels), 0.0);
  sd.assign(static_cast<size_t>(channels), 0.0);
  if (count <= 0) return;
  for (int64_t ch = 0; ch < channels; ++ch) {
    double m = s1[static_cast<size_t>(ch)] / count;
    mean[static_cast<size_t>(ch)] = m;
    sd[static_cast<size_t>(ch)] = std::sqrt(std::max(0.0, s2[static_cast<size_t>(ch)] / count - m * m));
  }
}

}  // namespace

Status reestimate_bn(const ir::Graph& original, ir::Graph& pruned, const std::vector<Sample>& calib,
                     const std::map<std::string, std::vector<int64_t>>& kept, int& layers) {
  layers = 0;
  if (calib.empty()) return invalid_argument("BatchNorm re-estimation needs calibration samples (--calib)");
  std::vector<ir::Node*> bns;
  std::vector<std::string> inputs;
  for (auto& up : pruned.nodes) {
    ir::Node& n = *up;
    if (n.op_type != "BatchNormalization" || !n.domain.empty() || n.inputs.size() < 5 || !n.outputs[0]) continue;
    bool consts = true;
    for (size_t i = 1; i < 5; ++i) consts = consts && n.inputs[i]->is_constant() && n.inputs[i]->constant.dtype() == DType::kF32;
    const ir::Value* ov = original.find_value(n.outputs[0]->name);
    if (!consts || !ov || !ov->producer || ov->producer->op_type != "BatchNormalization") continue;
    bns.push_back(&n);
    inputs.push_back(ov->producer->inputs[0]->name);
  }
  if (bns.empty()) return Status::ok();
  std::vector<std::vector<Tensor>> xo;
  JOULE_RETURN_IF_ERROR(collect_values(original, inputs, calib, xo).with_context("BatchNorm re-estimation"));
  for (size_t k = 0; k < bns.size(); ++k) {
    ir::Node& n = *bns[k];
    std::vector<std::vector<Tensor>> xp;
    JOULE_RETURN_IF_ERROR(collect_values(pruned, {n.inputs[0]->name}, calib, xp).with_context("BatchNorm re-estimation"));
    std::vector<Tensor> po, pp;
    for (size_t s = 0; s < calib.size(); ++s) {
      if (xo[s][k].dtype() != DType::kF32 || xp[s][0].dtype() != DType::kF32 || xp[s][0].rank() < 2)
        return unsupported(n.label() + ": BatchNorm re-estimation supports float32 [N, C, ...] inputs only");
      po.push_back(xo[s][k]);
      pp.push_back(xp[s][0]);
    }
    Tensor mean = n.inputs[3]->constant.clone(), var = n.inputs[4]->constant.clone();
    int64_t C = mean.numel();
    if (pp[0].dim(1) != C) return internal_error(n.label() + ": BatchNorm channels differ from its input's");
    std::vector<int64_t> map(static_cast<size_t>(C));
    auto it = kept.find(n.outputs[0]->name);
    for (int64_t c = 0; c < C; ++c)
      map[static_cast<size_t>(c)] = (it != kept.end() && static_cast<int64_t>(it->second.size()) == C) ? it->second[static_cast<size_t>(c)] : c;
    std::vector<double> mo, so, mp, sp;
    channel_moments(po, po[0].dim(1), mo, so);
    channel_moments(pp, C, mp, sp);
    double eps = n.attr_float("epsilon", 1e-5f);
    for (int64_t c = 0; c < C; ++c) {
      size_t oc = static_cast<size_t>(map[static_cast<size_t>(c)]);
      if (oc >= so.size() || so[oc] < 1e-12 || sp[static_cast<size_t>(c)] < 1e-12) continue;
      double mu = mean.data<float>()[c], s = std::sqrt(static_cast<double>(var.data<float>()[c]) + eps);
      double s2 = s * sp[static_cast<size_t>(c)] / so[oc];
      double v2 = s2 * s2 - eps;
      if (!(v2 > 0)) continue;  // would need a variance below zero: leave the channel as it was
      mean.data<float>()[c] = static_cast<float>(mp[static_cast<size_t>(c)] - (mo[oc] - mu) * s2 / s);
      var.data<float>()[c] = static_cast<float>(v2);
    }
    n.inputs[3] = pruned.add_constant(n.inputs[3]->name, mean);
    n.inputs[4] = pruned.add_constant(n.inputs[4]->name, var);
    ++layers;
  }
  pruned.compact();
  return ir::verify_graph(pruned);
}

}  // namespace joule::prune
