// Calibration runs, fidelity, and least-squares reconstruction of the layers after pruned channels.
//
// For a consumer layer L (Conv group=1, Gemm, MatMul with constant 2-D weight) whose input lost
// channels: X = its input in the pruned model (earlier layers already refitted), Y = its output in
// the unpruned model restricted to L's kept output channels. Each output position is one row
// x (the im2col patch, plus a 1 for the bias); the new weights solve the ridge problem
//   min_W ||X W - Y||^2 + lambda ||W||^2,   (X^T X + lambda I) W = X^T Y,
// with lambda = ridge * mean(diag(X^T X)). Layers are refitted in topological order, each on
// inputs produced by the already-refitted model.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <map>

#include "joule/session.h"
#include "prune/prune.h"

namespace joule::prune {

Status collect_values(const ir::Graph& g, const std::vector<std::string>& names, const std::vector<Sample>& calib,
                      std::vector<std::vector<Tensor>>& out) {
  ir::Graph c = clone_graph(g);
  std::vector<size_t> where;
  size_t n_out = c.outputs.size();
  if (names.empty())
    for (size_t i = 0; i < n_out; ++i) where.push_back(i);
  for (auto& name : names) {
    ir::Value* v = c.find_value(name);
    if (!v) return internal_error("pruning: value '" + name + "' vanished");
    auto it = std::find(c.outputs.begin(), c.outputs.end(), v);
    if (it != c.outputs.end()) {
      where.push_back(static_cast<size_t>(it - c.outputs.begin()));
    } else {
      where.push_back(c.outputs.size());
      c.outputs.push_back(v);
    }
  }
  SessionOptions so;
  so.optimize = false;
  std::unique_ptr<Session> s;
  JOULE_RETURN_IF_ERROR(Session::create(std::move(c), so, s));
  out.clear();
  for (auto& sample : calib) {
    Sample named = sample;
    for (size_t i = 0; i < named.size(); ++i)
      if (named[i].first.empty() && i < s->inputs().size()) named[i].first = s->inputs()[i].name;
    std::vector<Tensor> res;
    JOULE_RETURN_IF_ERROR(s->run(named, res).with_context("calibration run"));
    std::vector<Tensor> picked;
    for (size_t w : where) picked.push_back(res[w]);
    out.push_back(std::move(picked));
  }
  return Status::ok();
}

namespace {

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> r(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) r[static_cast<size_t>(i)] = t.value_as_double(i);
  return r;
}

int64_t argmax_row(const std::vector<double>& v, int64_t row, int64_t width) {
  int64_t best = 0;
  for (int64_t j = 1; j < width; ++j)
    if (v[row * width + j] > v[row * width + best]) best = j;
  return best;
}

// Accumulates rows into X^T X and X^T Y, then solves the ridge system.
struct RidgeFit {
  Eigen::MatrixXd xtx, xty;
  explicit RidgeFit(int64_t k, int64_t m) : xtx(Eigen::MatrixXd::Zero(k, k)), xty(Eigen::MatrixXd::Zero(k, m)) {}
  void add(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) {  // x: rows x k, y: rows x m
    xtx.noalias() += x.transpose() * x;
    xty.noalias() += x.transpose() * y;
  }
  Eigen::MatrixXd solve(double ridge) const {
    double lambda = ridge * std::max(1e-12, xtx.diagonal().mean());
    Eigen::MatrixXd a = xtx;
    a.diagonal().array() += lambda;
    return a.ldlt().solve(xty);
  }
};

// Output channels of `y` (axis 1) listed in `kept` (all when empty).
std::vector<int64_t> channel_list(const std::map<std::string, std::vector<int64_t>>& kept_out, const std::string& name,
                                  int64_t count) {
  auto it = kept_out.find(name);
  if (it != kept_out.end()) return it->second;
  std::vector<int64_t> all(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) all[static_cast<size_t>(i)] = i;
  return all;
}

// Refits a 2-D Conv (group 1, NOTSET padding) from pruned inputs xs to original outputs ys.
Status refit_conv(ir::Graph& g, ir::Node& n, const std::vector<Tensor>& xs, const std::vector<Tensor>& ys,
                  const std::vector<int64_t>& outs, const PruneOptions& opts) {
  const Tensor& W = n.inputs[1]->constant;
  int64_t co = W.dim(0), ci = W.dim(1), kh = W.dim(2), kw = W.dim(3);
  auto st = n.attr_ints("strides", {1, 1}), dl = n.attr_ints("dilations", {1, 1}), pd = n.attr_ints("pads", {0, 0, 0, 0});
  bool bias = n.has_input(2);
  int64_t k = ci * kh * kw + (bias ? 1 : 0);
  int64_t total = 0;
  for (auto& y : ys) total += y.dim(0) * y.dim(2) * y.dim(3);
  int64_t step = std::max<int64_t>(1, total / std::max<int64_t>(1, opts.max_rows));
  RidgeFit fit(k, co);
  const int64_t chunk = 512;
  Eigen::MatrixXd xr(chunk, k), yr(chunk, co);
  int64_t rows = 0, pos = 0;
  for (size_t s = 0; s < xs.size(); ++s) {
    const Tensor &x = xs[s], &y = ys[s];
    int64_t H = x.dim(2), Wd = x.dim(3), Ho = y.dim(2), Wo = y.dim(3), Cy = y.dim(1);
    const float* xp = x.data<float>();
    const float* yp = y.data<float>();
    for (int64_t b = 0; b < y.dim(0); ++b)
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow, ++pos) {
          if (pos % step) continue;
          int64_t col = 0;
          for (int64_t c = 0; c < ci; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j, ++col) {
                int64_t ih = oh * st[0] - pd[0] + i * dl[0], iw = ow * st[1] - pd[1] + j * dl[1];
                xr(rows, col) = (ih >= 0 && ih < H && iw >= 0 && iw < Wd) ? xp[((b * ci + c) * H + ih) * Wd + iw] : 0.0;
              }
          if (bias) xr(rows, col) = 1.0;
          for (int64_t o = 0; o < co; ++o) yr(rows, o) = yp[((b * Cy + outs[o]) * Ho + oh) * Wo + ow];
          if (++rows == chunk) fit.add(xr, yr), rows = 0;
        }
  }
  if (rows) fit.add(xr.topRows(rows), yr.topRows(rows));
  Eigen::MatrixXd sol = fit.solve(opts.ridge);  // k x co
  Tensor nw(DType::kF32, W.shape());
  for (int64_t o = 0; o < co; ++o)
    for (int64_t c = 0; c < ci * kh * kw; ++c) nw.data<float>()[o * ci * kh * kw + c] = static_cast<float>(sol(c, o));
  n.inputs[1] = g.add_constant(n.inputs[1]->name, nw);
  if (bias) {
    Tensor nb(DType::kF32, {co});
    for (int64_t o = 0; o < co; ++o) nb.data<float>()[o] = static_cast<float>(sol(k - 1, o));
    n.inputs[2] = g.add_constant(n.inputs[2]->name, nb);
  }
  return Status::ok();
}

// Refits Gemm (alpha = beta = 1) or MatMul with a constant 2-D weight.
Status refit_dense(ir::Graph& g, ir::Node& n, const std::vector<Tensor>& xs, const std::vector<Tensor>& ys,
                   const std::vector<int64_t>& outs, const PruneOptions& opts) {
  const Tensor& B = n.inputs[1]->constant;
  bool transB = n.op_type == "Gemm" && n.attr_int("transB", 0) != 0;
  int64_t kin = transB ? B.dim(1) : B.dim(0), m = transB ? B.dim(0) : B.dim(1);
  bool bias = n.has_input(2) && n.inputs[2]->constant.numel() == m;
  int64_t k = kin + (bias ? 1 : 0);
  RidgeFit fit(k, m);
  for (size_t s = 0; s < xs.size(); ++s) {
    // Rows: every position of the leading dims ([batch, features] or [batch, seq, features]).
    int64_t Cy = ys[s].shape().back(), rows = xs[s].numel() / kin;
    Eigen::MatrixXd xr(rows, k), yr(rows, m);
    const float* xp = xs[s].data<float>();
    const float* yp = ys[s].data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < kin; ++c) xr(r, c) = xp[r * kin + c];
      if (bias) xr(r, kin) = 1.0;
      for (int64_t o = 0; o < m; ++o) yr(r, o) = yp[r * Cy + outs[o]];
    }
    fit.add(xr, yr);
  }
  Eigen::MatrixXd sol = fit.solve(opts.ridge);
  Tensor nb(DType::kF32, B.shape());
  for (int64_t c = 0; c < kin; ++c)
    for (int64_t o = 0; o < m; ++o) nb.data<float>()[transB ? o * kin + c : c * m + o] = static_cast<float>(sol(c, o));
  n.inputs[1] = g.add_constant(n.inputs[1]->name, nb);
  if (bias) {
    Tensor nc(DType::kF32, n.inputs[2]->constant.shape());
    for (int64_t o = 0; o < m; ++o) nc.data<float>()[o] = static_cast<float>(sol(kin, o));
    n.inputs[2] = g.add_constant(n.inputs[2]->name, nc);
  }
  return Status::ok();
}

}  // namespace

Status reconstruct(const ir::Graph& original, ir::Graph& pruned, const std::vector<Sample>& calib,
                   const std::map<std::string, std::vector<int64_t>>& kept_out, const PruneOptions& opts,
                   std::vector<std::string>& notes) {
  if (calib.empty()) return invalid_argument("reconstruction needs calibration samples (--calib)");
  // Consumers: weight layers whose input channel count shrank.
  std::vector<ir::Node*> todo;
  std::vector<std::string> targets;
  for (auto& up : pruned.nodes) {
    ir::Node& n = *up;
    bool conv = n.op_type == "Conv" && n.attr_int("group", 1) == 1;
    bool dense = n.op_type == "Gemm" || n.op_type == "MatMul";
    if (!(conv || dense) || !n.has_input(1) || !n.inputs[1]->is_constant() || !n.outputs[0]) continue;
    ir::Value* ov = original.find_value(n.outputs[0]->name);
    if (!ov || !ov->producer || !ov->producer->has_input(1) || !ov->producer->inputs[1]->is_constant()) continue;
    const Tensor &w0 = ov->producer->inputs[1]->constant, &w1 = n.inputs[1]->constant;
    bool transB = n.op_type == "Gemm" && n.attr_int("transB", 0) != 0;
    int in_axis = conv ? 1 : (transB ? 1 : 0);
    if (w0.rank() != w1.rank() || w0.dim(in_axis) == w1.dim(in_axis)) continue;
    if (w1.dtype() != DType::kF32) continue;
    if (conv && (w1.rank() != 4 || n.attr_string("auto_pad", "NOTSET") != "NOTSET")) {
      notes.push_back(n.label() + " not reconstructed (only 2-D Conv with explicit pads)");
      continue;
    }
    if (n.op_type == "Gemm" && (n.attr_float("alpha", 1) != 1 || n.attr_float("beta", 1) != 1 || n.attr_int("transA", 0))) {
      notes.push_back(n.label() + " not reconstructed (alpha/beta/transA)");
      continue;
    }
    if (dense && n.inputs[0]->desc.rank() < 2) continue;
    todo.push_back(&n);
    targets.push_back(n.outputs[0]->name);
  }
  if (todo.empty()) return Status::ok();
  std::vector<std::vector<Tensor>> ys;
  JOULE_RETURN_IF_ERROR(collect_values(original, targets, calib, ys));
  for (size_t t = 0; t < todo.size(); ++t) {
    ir::Node& n = *todo[t];
    std::vector<std::vector<Tensor>> xs_s;
    JOULE_RETURN_IF_ERROR(collect_values(pruned, {n.inputs[0]->name}, calib, xs_s));
    std::vector<Tensor> xs, y;
    for (size_t s = 0; s < calib.size(); ++s) {
      if (xs_s[s][0].dtype() != DType::kF32 || ys[s][t].dtype() != DType::kF32)
        return unsupported("reconstruction supports float32 layers only");
      xs.push_back(xs_s[s][0]);
      y.push_back(ys[s][t]);
    }
    int64_t nout = n.op_type == "Conv" ? n.inputs[1]->constant.dim(0)
                                       : (n.op_type == "Gemm" && n.attr_int("transB", 0) ? n.inputs[1]->constant.dim(0)
                                                                                         : n.inputs[1]->constant.dim(1));
    auto outs = channel_list(kept_out, targets[t], nout);
    if (static_cast<int64_t>(outs.size()) != nout) return internal_error("reconstruction: output channel mismatch");
    if (n.op_type == "Conv") JOULE_RETURN_IF_ERROR(refit_conv(pruned, n, xs, y, outs, opts));
    else JOULE_RETURN_IF_ERROR(refit_dense(pruned, n, xs, y, outs, opts));
  }
  pruned.compact();
  return ir::verify_graph(pruned);
}

Status measure_fidelity(const ir::Graph& reference, const ir::Graph& candidate, const std::vector<Sample>& calib,
                        const std::vector<int64_t>& labels, Fidelity& out, Fidelity* reference_accuracy) {
  std::vector<std::vector<Tensor>> a, b;
  JOULE_RETURN_IF_ERROR(collect_values(reference, {}, calib, a));
  JOULE_RETURN_IF_ERROR(collect_values(candidate, {}, calib, b));
  out = {};
  int64_t rows_total = 0, agree = 0, correct = 0, ref_correct = 0;
  for (size_t s = 0; s < calib.size(); ++s) {
    auto x = as_doubles(a[s][0]), y = as_doubles(b[s][0]);
    if (x.size() != y.size()) return internal_error("pruned model output 0 changed size");
    double dot = 0, nx = 0, ny = 0;
    for (size_t i = 0; i < x.size(); ++i) dot += x[i] * y[i], nx += x[i] * x[i], ny += y[i] * y[i];
    out.cosine += (nx > 0 && ny > 0) ? dot / std::sqrt(nx * ny) : (nx == ny ? 1.0 : 0.0);
    const Shape& sh = a[s][0].shape();
    int64_t width = sh.empty() ? 1 : sh.back();
    int64_t rows = width > 0 ? static_cast<int64_t>(x.size()) / width : 0;
    for (int64_t r = 0; r < rows; ++r) agree += argmax_row(x, r, width) == argmax_row(y, r, width);
    rows_total += rows;
    if (s < labels.size() && rows > 0) {
      correct += argmax_row(y, 0, width) == labels[s];
      ref_correct += argmax_row(x, 0, width) == labels[s];
    }
  }
  out.samples = static_cast<int>(calib.size());
  if (!calib.empty()) out.cosine /= static_cast<double>(calib.size());
  out.top1 = rows_total ? static_cast<double>(agree) / static_cast<double>(rows_total) : 0;
  if (!labels.empty() && labels.size() >= calib.size()) {
    out.accuracy = static_cast<double>(correct) / static_cast<double>(calib.size());
    if (reference_accuracy) {
      *reference_accuracy = {1.0, 1.0, static_cast<double>(ref_correct) / static_cast<double>(calib.size()), out.samples};
    }
  }
  return Status::ok();
}

}  // namespace joule::prune
