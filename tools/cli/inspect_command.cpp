// joule inspect MODEL [--json] [--shape name=1x3x224x224 ...]
#include <iostream>
#include <map>
#include <sstream>

#include "kernels/kernel_registry.h"
#include "onnx_import/onnx_import.h"
#include "runtime/cost_model.h"
#include "runtime/cuda_plan.h"
#include "runtime/ops/op_registry.h"
#include "runtime/passes/passes.h"
#include "runtime/planner.h"
#include "tools/cli/cli_args.h"
#include "tools/cli/commands.h"

namespace joule::cli {

namespace {
constexpr const char* kInspectHelp =
    "usage: joule inspect MODEL [--shape NAME=1x3x224x224 ...] [--json]\n\n"
    "Prints the opset, inputs and outputs with shapes, an op histogram, parameter count and bytes,\n"
    "MACs per inference, peak activation memory from the planner, and any unsupported ops.\n\n"
    "  --shape NAME=DIMS  bind a symbolic input shape (repeatable) for MACs and memory\n"
    "  --json             machine-readable output\n"
    "  --device cuda      list the nodes without a CUDA kernel (they fall back to the CPU with copies)\n";

int fail(const Status& s) {
  std::cerr << "joule inspect: error: " << s.message() << "\n";
  return 1;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else o += c;
  }
  return o;
}

std::string shape_json(const ir::Value& v) {
  if (!v.desc.rank_known) return "null";
  std::string s = "[";
  for (size_t i = 0; i < v.desc.shape.size(); ++i) {
    if (i) s += ", ";
    if (v.desc.shape[i] >= 0) s += std::to_string(v.desc.shape[i]);
    else s += "\"" + json_escape(i < v.dim_params.size() && !v.dim_params[i].empty() ? v.dim_params[i] : "?") + "\"";
  }
  return s + "]";
}

std::string shape_text(const ir::Value& v) {
  if (!v.desc.rank_known) return "?";
  std::string s;
  for (size_t i = 0; i < v.desc.shape.size(); ++i) {
    if (i) s += "x";
    if (v.desc.shape[i] >= 0) s += std::to_string(v.desc.shape[i]);
    else s += i < v.dim_params.size() && !v.dim_params[i].empty() ? v.dim_params[i] : "?";
  }
  return s.empty() ? "scalar" : s;
}

void count_ops(const ir::Graph& g, std::map<std::string, int>& hist, std::map<std::string, int>& unsupported_ops) {
  const auto& oreg = ops::OpRegistry::builtin();
  const auto& kreg = kernels::KernelRegistry::builtin();
  for (auto& n : g.nodes) {
    std::string key = n->domain.empty() ? n->op_type : n->domain + "." + n->op_type;
    ++hist[key];
    if (!oreg.find(n->domain, n->op_type) || !kreg.has_op(n->domain, n->op_type)) ++unsupported_ops[key];
    for (auto& [k, a] : n->attrs) {
      if (a.g) count_ops(*a.g, hist, unsupported_ops);
      for (auto& sg : a.graphs) count_ops(*sg, hist, unsupported_ops);
    }
  }
}
}  // namespace

int inspect_command(int argc, char** argv) {
  ParsedArgs a;
  Status st = parse_args(argc, argv, 2, {"--help", "-h", "--json"}, {"--shape", "--device"}, {}, a);
  if (!st.is_ok()) return fail(st);
  if (a.has("--help") || a.has("-h")) {
    std::cout << kInspectHelp;
    return 0;
  }
  if (a.positional.size() != 1) return fail(invalid_argument("expected exactly one MODEL argument (see --help)"));
  const std::string& path = a.positional[0];
  std::map<std::string, Shape> shapes;
  for (const std::string& s : a.all("--shape")) {
    std::string name;
    Shape shape;
    if (!(st = parse_shape_arg(s, name, shape)).is_ok()) return fail(st);
    shapes[name] = shape;
  }
  ir::Graph g;
  if (!(st = onnx_import::import_model(path, g)).is_ok()) return fail(st);
  for (auto& [name, s] : shapes) {
    bool found = false;
    for (ir::Value* v : g.inputs) found |= v->name == name;
    if (!found) return fail(invalid_argument(path + ": --shape names '" + name + "', which is not a model input"));
  }
  // Keep the declared input shapes for display, then bind and analyse.
  std::vector<ir::Value> declared_inputs;
  for (ir::Value* v : g.inputs) declared_inputs.push_back(*v);
  int64_t params = 0, param_bytes = 0;
  for (auto& v : g.values)
    if (v->is_constant()) {
      params += v->constant.numel();
      param_bytes += static_cast<int64_t>(v->constant.nbytes());
    }
  std::map<std::string, int> hist, unsupported_ops;
  count_ops(g, hist, unsupported_ops);
  size_t node_count = g.nodes.size();
  if (!(st = passes::infer_shapes(g, shapes)).is_ok()) return fail(st.with_context(path));
  if (!(st = passes::fold_constants(g)).is_ok()) return fail(st.with_context(path));
  if (!(st = passes::eliminate_dead_nodes(g)).is_ok()) return fail(st.with_context(path));
  if (!(st = passes::infer_shapes(g, shapes)).is_ok()) return fail(st.with_context(path));
  CostSummary cost = estimate_cost(g);
  MemoryPlan plan = plan_memory(g);

  if (a.has("--json")) {
    std::ostringstream o;
    o << "{\n  \"model\": \"" << json_escape(path) << "\",\n  \"ir_version\": " << g.ir_version << ",\n  \"opsets\": {";
    bool first = true;
    for (auto& [d, ver] : g.opset_imports) {
      o << (first ? "" : ", ") << "\"" << json_escape(d.empty() ? "ai.onnx" : d) << "\": " << ver;
      first = false;
    }
    o << "},\n  \"producer\": \"" << json_escape(g.producer_name) << "\",\n  \"inputs\": [";
    for (size_t i = 0; i < declared_inputs.size(); ++i)
      o << (i ? ", " : "") << "{\"name\": \"" << json_escape(declared_inputs[i].name) << "\", \"dtype\": \""
        << dtype_name(declared_inputs[i].desc.dtype) << "\", \"shape\": " << shape_json(declared_inputs[i]) << "}";
    o << "],\n  \"outputs\": [";
    for (size_t i = 0; i < g.outputs.size(); ++i)
      o << (i ? ", " : "") << "{\"name\": \"" << json_escape(g.outputs[i]->name) << "\", \"dtype\": \""
        << dtype_name(g.outputs[i]->desc.dtype) << "\", \"shape\": " << shape_json(*g.outputs[i]) << "}";
    o << "],\n  \"nodes\": " << node_count << ",\n  \"op_histogram\": {";
    first = true;
    for (auto& [op, c] : hist) {
      o << (first ? "" : ", ") << "\"" << json_escape(op) << "\": " << c;
      first = false;
    }
    o << "},\n  \"parameters\": " << params << ",\n  \"parameter_bytes\": " << param_bytes << ",\n  \"macs\": ";
    if (cost.complete) o << cost.macs; else o << "null";
    o << ",\n  \"peak_activation_bytes\": ";
    if (plan.complete) o << plan.arena_bytes; else o << "null";
    o << ",\n  \"activation_bytes_without_reuse\": ";
    if (plan.complete) o << plan.naive_bytes; else o << "null";
    o << ",\n  \"unsupported_ops\": [";
    first = true;
    for (auto& [op, c] : unsupported_ops) {
      o << (first ? "" : ", ") << "\"" << json_escape(op) << "\"";
      first = false;
    }
    o << "]\n}\n";
    std::cout << o.str();
    return 0;
  }
  std::cout << "model      " << path << "\n";
  std::cout << "ir_version " << g.ir_version << "   producer " << (g.producer_name.empty() ? "?" : g.producer_name) << "\n";
  std::cout << "opsets    ";
  for (auto& [d, ver] : g.opset_imports) std::cout << " " << (d.empty() ? "ai.onnx" : d) << "=" << ver;
  std::cout << "\ninputs\n";
  for (auto& v : declared_inputs) std::cout << "  " << v.name << ": " << dtype_name(v.desc.dtype) << " " << shape_text(v) << "\n";
  std::cout << "outputs\n";
  for (ir::Value* v : g.outputs) std::cout << "  " << v->name << ": " << dtype_name(v->desc.dtype) << " " << shape_text(*v) << "\n";
  std::cout << "ops (" << node_count << " nodes)\n";
  for (auto& [op, c] : hist) std::cout << "  " << op << " " << c << "\n";
  std::cout << "parameters " << params << " (" << param_bytes << " bytes)\n";
  if (cost.complete) std::cout << "MACs       " << cost.macs << " per inference\n";
  else std::cout << "MACs       unknown: input shapes are symbolic (give --shape NAME=DIMS)\n";
  if (plan.complete)
    std::cout << "activation memory " << plan.arena_bytes << " bytes peak (" << plan.naive_bytes << " without reuse)\n";
  else
    std::cout << "activation memory unknown: some shapes are only known at run time (give --shape NAME=DIMS)\n";
  if (a.get("--device", "cpu") == "cuda") {  // runtime/cuda_plan.h; owner: cuda
    std::vector<std::pair<std::string, std::string>> cov;
    if (!(st = CudaPlan::coverage(g, cov)).is_ok()) return fail(st);
    size_t on_gpu = 0;
    for (auto& [label, k] : cov) on_gpu += !k.empty();
    std::cout << "cuda       " << on_gpu << " of " << cov.size() << " nodes have a CUDA kernel\n";
    for (auto& [label, k] : cov)
      if (k.empty()) std::cout << "  CPU fallback (copies to/from the GPU): " << label << "\n";
  }
  if (unsupported_ops.empty()) {
    std::cout << "unsupported ops: none\n";
  } else {
    std::cout << "unsupported ops:";
    for (auto& [op, c] : unsupported_ops) std::cout << " " << op << "(" << c << ")";
    std::cout << "\n";
  }
  return 0;
}

}  // namespace joule::cli
