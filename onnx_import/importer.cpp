// ModelProto -> ir::Graph. Validates everything a hostile file could get wrong before the IR sees it.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "joule_onnx.pb.h"
#include "onnx_import/onnx_import.h"
#include "onnx_import/tensor_proto.h"
#include "runtime/ops/op_registry.h"

namespace joule::onnx_import {

namespace fs = std::filesystem;

namespace {

constexpr int kMinOpset = 1;  // opsets 1-6 run with their ops' opset-7 semantics where those agree
constexpr int kMaxOpset = 21;  // newest ai.onnx opset whose semantics joule implements

struct ImportState {
  std::string file;       // for messages
  std::string model_dir;  // for external data
  ImportLimits limits;
  std::map<std::string, int> opsets;
};

Status import_graph(const onnx::GraphProto& gp, ImportState& st, ir::Graph& g, int depth);

Status convert_value_info(const onnx::ValueInfoProto& vi, ir::Value& v, const std::string& what) {
  if (!vi.has_type()) return Status::ok();
  const auto& tp = vi.type();
  if (!tp.has_tensor_type()) return unsupported(what + " '" + vi.name() + "' is not a tensor (sequence, map and optional types are not supported)");
  const auto& tt = tp.tensor_type();
  DType dt = dtype_from_onnx(tt.elem_type());
  if (tt.elem_type() != 0 && (dt == DType::kUndefined || dt == DType::kString))
    return unsupported(what + " '" + vi.name() + "' has unsupported element type " + std::to_string(tt.elem_type()));
  v.desc.dtype = dt;
  if (tt.has_shape()) {
    v.desc.rank_known = true;
    v.desc.shape.clear();
    v.dim_params.clear();
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value()) {
        if (d.dim_value() < 0) return invalid_model(what + " '" + vi.name() + "' has negative dimension " + std::to_string(d.dim_value()));
        v.desc.shape.push_back(d.dim_value());
      } else {
        v.desc.shape.push_back(-1);
      }
      v.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
    }
    // Declared sizes feed shape inference and the memory planner, whose element and byte counts
    // are int64/size_t: refuse shapes whose byte count does not fit comfortably (2^62).
    uint64_t n = std::max<uint64_t>(dtype_size(dt), 1);
    for (int64_t d : v.desc.shape) {
      if (d <= 0) continue;  // unknown or zero dims
      if (n > (uint64_t{1} << 62) / static_cast<uint64_t>(d))
        return resource_limit(what + " '" + vi.name() + "' declares shape " + shape_to_string(v.desc.shape) + ", whose size overflows");
      n *= static_cast<uint64_t>(d);
    }
  }
  return Status::ok();
}

Status convert_attribute(const onnx::AttributeProto& ap, ImportState& st, ir::Graph& g, const std::string& node_label,
                         int depth, ir::Attribute& a) {
  using K = ir::Attribute::Kind;
  std::string what = node_label + " attribute '" + ap.name() + "'";
  if (!ap.ref_attr_name().empty()) return unsupported(what + " refers to a function attribute");
  int type = ap.type();
  if (type == onnx::AttributeProto::UNDEFINED) {  // very old exporters: infer from the populated field
    if (ap.has_f()) type = onnx::AttributeProto::FLOAT;
    else if (ap.has_i()) type = onnx::AttributeProto::INT;
    else if (ap.has_s()) type = onnx::AttributeProto::STRING;
    else if (ap.has_t()) type = onnx::AttributeProto::TENSOR;
    else if (ap.has_g()) type = onnx::AttributeProto::GRAPH;
    else if (ap.floats_size()) type = onnx::AttributeProto::FLOATS;
    else if (ap.ints_size()) type = onnx::AttributeProto::INTS;
    else if (ap.strings_size()) type = onnx::AttributeProto::STRINGS;
    else type = onnx::AttributeProto::INTS;
  }
  switch (type) {
    case onnx::AttributeProto::FLOAT: a.kind = K::kFloat; a.f = ap.f(); break;
    case onnx::AttributeProto::INT: a.kind = K::kInt; a.i = ap.i(); break;
    case onnx::AttributeProto::STRING: a.kind = K::kString; a.s = ap.s(); break;
    case onnx::AttributeProto::FLOATS: a.kind = K::kFloats; a.floats.assign(ap.floats().begin(), ap.floats().end()); break;
    case onnx::AttributeProto::INTS: a.kind = K::kInts; a.ints.assign(ap.ints().begin(), ap.ints().end()); break;
    case onnx::AttributeProto::STRINGS: a.kind = K::kStrings; a.strings.assign(ap.strings().begin(), ap.strings().end()); break;
    case onnx::AttributeProto::TENSOR:
      a.kind = K::kTensor;
      JOULE_RETURN_IF_ERROR(tensor_from_proto(ap.t(), st.model_dir, st.limits.max_tensor_bytes, what, a.t));
      break;
    case onnx::AttributeProto::TENSORS:
      a.kind = K::kTensors;
      for (const auto& tp : ap.tensors()) {
        Tensor t;
        JOULE_RETURN_IF_ERROR(tensor_from_proto(tp, st.model_dir, st.limits.max_tensor_bytes, what, t));
        a.tensors.push_back(std::move(t));
      }
      break;
    case onnx::AttributeProto::GRAPH: {
      a.kind = K::kGraph;
      if (depth + 1 > st.limits.max_subgraph_depth) return resource_limit(what + ": subgraphs nested too deeply");
      a.g = std::make_shared<ir::Graph>();
      a.g->parent = &g;
      JOULE_RETURN_IF_ERROR(import_graph(ap.g(), st, *a.g, depth + 1));
      break;
    }
    case onnx::AttributeProto::GRAPHS:
      a.kind = K::kGraphs;
      for (const auto& gp : ap.graphs()) {
        if (depth + 1 > st.limits.max_subgraph_depth) return resource_limit(what + ": subgraphs nested too deeply");
        auto sg = std::make_shared<ir::Graph>();
        sg->parent = &g;
        JOULE_RETURN_IF_ERROR(import_graph(gp, st, *sg, depth + 1));
        a.graphs.push_back(std::move(sg));
      }
      break;
    default: return unsupported(what + " has unsupported attribute type " + std::to_string(type));
  }
  return Status::ok();
}

// Turns a Constant node's attribute into a tensor.
Status constant_node_value(const onnx::NodeProto& np, ImportState& st, const std::string& label, Tensor& out) {
  for (const auto& ap : np.attribute()) {
    const std::string& n = ap.name();
    if (n == "value") return tensor_from_proto(ap.t(), st.model_dir, st.limits.max_tensor_bytes, label + " value", out);
    if (n == "value_float") { out = Tensor::scalar<float>(ap.f()); return Status::ok(); }
    if (n == "value_int") { out = Tensor::scalar<int64_t>(ap.i()); return Status::ok(); }
    if (n == "value_floats") { out = Tensor::from_vector<float>({ap.floats_size()}, {ap.floats().begin(), ap.floats().end()}); return Status::ok(); }
    if (n == "value_ints") { out = Tensor::from_vector<int64_t>({ap.ints_size()}, {ap.ints().begin(), ap.ints().end()}); return Status::ok(); }
    if (n == "sparse_value") return unsupported(label + ": sparse constant values are not supported");
    if (n == "value_string" || n == "value_strings") return unsupported(label + ": string constants are not supported");
  }
  return invalid_model(label + " has no value attribute");
}

ir::Value* lookup(ir::Graph& g, const std::string& name) {
  for (ir::Graph* s = &g; s; s = s->parent)
    if (ir::Value* v = s->find_value(name)) return v;
  return nullptr;
}

Status import_graph(const onnx::GraphProto& gp, ImportState& st, ir::Graph& g, int depth) {
  g.name = gp.name();
  g.opset_imports = st.opsets;
  std::string where = st.file + (depth ? " (subgraph '" + gp.name() + "')" : "");

  std::set<std::string> init_names;
  for (const auto& tp : gp.initializer()) {
    if (tp.name().empty()) return invalid_model(where + ": an initializer has no name");
    if (!init_names.insert(tp.name()).second) return invalid_model(where + ": initializer '" + tp.name() + "' is defined twice");
    Tensor t;
    JOULE_RETURN_IF_ERROR(tensor_from_proto(tp, st.model_dir, st.limits.max_tensor_bytes, where + ": initializer '" + tp.name() + "'", t));
    g.add_constant(tp.name(), std::move(t));
    // The ModelProto is this import's own parse: drop each weight's bytes once converted, so the weights
    // are not held twice (proto + tensor) while the rest of the model imports.
    if (tp.has_raw_data()) std::string().swap(*const_cast<onnx::TensorProto&>(tp).mutable_raw_data());
  }
  if (gp.sparse_initializer_size()) return unsupported(where + ": sparse initializers are not supported");
  for (const auto& vi : gp.input()) {
    if (vi.name().empty()) return invalid_model(where + ": a graph input has no name");
    if (init_names.count(vi.name())) continue;  // old-style: initializers listed as inputs
    if (g.find_value(vi.name())) return invalid_model(where + ": graph input '" + vi.name() + "' is declared twice");
    ir::Value* v = g.add_value(vi.name());
    JOULE_RETURN_IF_ERROR(convert_value_info(vi, *v, where + ": graph input"));
    g.inputs.push_back(v);
  }
  // Create every node output first so that files whose nodes are not in topological order import.
  for (const auto& np : gp.node()) {
    for (const auto& o : np.output()) {
      if (o.empty()) continue;
      if (g.find_value(o)) {
        std::string label = np.op_type() + " '" + (np.name().empty() ? o : np.name()) + "'";
        return invalid_model(where + ": node " + label + " output '" + o + "' is already defined by another node, input or initializer");
      }
      g.add_value(o);
    }
  }
  for (const auto& np : gp.node()) {
    std::string domain = ops::canonical_domain(np.domain());
    std::string label = (domain.empty() ? "" : domain + ".") + np.op_type() + " '" + (np.name().empty() ? (np.output_size() ? np.output(0) : std::string("?")) : np.name()) + "'";
    if (np.op_type().empty()) return invalid_model(where + ": a node has no op_type");
    auto op_it = st.opsets.find(domain);
    if (op_it == st.opsets.end())
      return invalid_model(where + ": node " + label + " uses domain '" + np.domain() + "', which the model does not import");
    if (domain.empty() && np.op_type() == "Constant") {
      if (np.output_size() != 1 || np.output(0).empty()) return invalid_model(where + ": node " + label + " must have one output");
      ir::Value* v = g.find_value(np.output(0));
      JOULE_RETURN_IF_ERROR(constant_node_value(np, st, where + ": node " + label, v->constant));
      v->desc = ir::TensorDesc::known(v->constant.dtype(), v->constant.shape());
      continue;
    }
    std::vector<ir::Value*> ins, outs;
    for (int i = 0; i < np.input_size(); ++i) {
      const std::string& in = np.input(i);
      if (in.empty()) { ins.push_back(nullptr); continue; }
      ir::Value* v = lookup(g, in);
      if (!v) return invalid_model(where + ": node " + label + " input " + std::to_string(i) + " '" + in + "' is not produced by any node, graph input or initializer");
      ins.push_back(v);
    }
    for (const auto& o : np.output()) outs.push_back(o.empty() ? nullptr : g.find_value(o));
    ir::Node* n = g.add_node(np.op_type(), std::move(ins), std::move(outs), np.name(), domain);
    n->opset = op_it->second;
    for (const auto& ap : np.attribute()) {
      if (ap.name().empty()) return invalid_model(where + ": node " + label + " has an attribute without a name");
      ir::Attribute a;
      JOULE_RETURN_IF_ERROR(convert_attribute(ap, st, g, where + ": node " + label, depth, a));
      n->attrs[ap.name()] = std::move(a);
    }
    // Before opset 7, binary ops broadcast only with broadcast=1, aligned at `axis`; without an
    // axis that is numpy's right-aligned rule, which the kernels implement. With one it is not.
    if (domain.empty() && n->opset < 7 && n->attr_int("broadcast", 0) == 1 && n->has_attr("axis"))
      return unsupported(where + ": node " + label + " uses opset-" + std::to_string(n->opset) +
                         " broadcasting along axis " + std::to_string(n->attr_int("axis", 0)) +
                         ", which joule does not implement (re-export the model at opset 7 or newer)");
  }
  for (const auto& vi : gp.value_info()) {
    if (ir::Value* v = g.find_value(vi.name()); v && !v->is_constant())
      JOULE_RETURN_IF_ERROR(convert_value_info(vi, *v, where + ": value_info"));
  }
  for (const auto& vi : gp.output()) {
    ir::Value* v = lookup(g, vi.name());
    if (!v) return invalid_model(where + ": graph output '" + vi.name() + "' is not produced by any node, input or initializer");
    if (!v->is_constant()) JOULE_RETURN_IF_ERROR(convert_value_info(vi, *v, where + ": graph output"));
    g.outputs.push_back(v);
  }
  JOULE_RETURN_IF_ERROR(g.toposort().with_context(where));
  return ir::verify_graph(g).with_context(where);
}

/// Parses a ModelProto from `cis` and imports it (import_model reads the file through it in pieces, so
/// the file's bytes are never held next to the parsed model).
Status import_model_from_stream(google::protobuf::io::CodedInputStream& cis, const std::string& model_dir,
                                const std::string& label, ir::Graph& out, const ImportLimits& limits) {
  onnx::ModelProto mp;
  cis.SetRecursionLimit(200);
  if (!mp.ParseFromCodedStream(&cis) || !cis.ConsumedEntireMessage())
    return invalid_model(label + ": not a valid ONNX model (protobuf parse failed: truncated or corrupt file)");
  if (!mp.has_graph()) return invalid_model(label + ": model has no graph");
  ImportState st{label, model_dir, limits, {}};
  for (const auto& os : mp.opset_import()) {
    std::string d = ops::canonical_domain(os.domain());
    st.opsets[d] = static_cast<int>(os.version());
  }
  if (mp.opset_import_size() == 0) st.opsets[""] = 1;  // IR v1-2 models: opset 1
  auto it = st.opsets.find("");
  if (it != st.opsets.end() && (it->second < kMinOpset || it->second > kMaxOpset))
    return unsupported(label + ": ai.onnx opset " + std::to_string(it->second) + " is outside the supported range " +
                       std::to_string(kMinOpset) + "-" + std::to_string(kMaxOpset));
  out = ir::Graph();
  out.ir_version = mp.ir_version();
  out.producer_name = mp.producer_name();
  return import_graph(mp.graph(), st, out, 0);
}

}  // namespace

Status import_model_from_bytes(const void* data, size_t size, const std::string& model_dir, const std::string& label,
                               ir::Graph& out, const ImportLimits& limits) {
  if (size > limits.max_file_bytes || size > (size_t{1} << 31) - 1)
    return resource_limit(label + ": file of " + std::to_string(size) + " bytes is too large for protobuf (use external data for big weights)");
  google::protobuf::io::CodedInputStream cis(static_cast<const uint8_t*>(data), static_cast<int>(size));
  return import_model_from_stream(cis, model_dir, label, out, limits);
}

Status import_model(const std::string& path, ir::Graph& out, const ImportLimits& limits) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return io_error(path + ": no such file");
  uint64_t size = fs::file_size(path, ec);
  if (ec) return io_error(path + ": cannot read file size");
  if (size > limits.max_file_bytes) return resource_limit(path + ": file is larger than the import limit");
  if (size > (uint64_t{1} << 31) - 1)
    return resource_limit(path + ": file of " + std::to_string(size) + " bytes is too large for protobuf (use external data for big weights)");
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot open file");
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  google::protobuf::io::IstreamInputStream zin(&in, 1 << 20);
  google::protobuf::io::CodedInputStream cis(&zin);
  Status st = import_model_from_stream(cis, dir, path, out, limits);
  if (!st.is_ok() && in.bad()) return io_error(path + ": read failed");
  return st;
}

Status load_tensor_pb(const std::string& path, Tensor& out, std::string* name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot open file");
  std::string buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  onnx::TensorProto tp;
  if (!tp.ParseFromString(buf)) return invalid_argument(path + ": not a valid ONNX TensorProto");
  if (name) *name = tp.name();
  std::string dir = fs::path(path).parent_path().string();
  return tensor_from_proto(tp, dir.empty() ? "." : dir, uint64_t{16} << 30, path, out);
}

Status save_tensor_pb(const Tensor& t, const std::string& name, const std::string& path) {
  onnx::TensorProto tp;
  tensor_to_proto(t, name, tp);
  std::ofstream out(path, std::ios::binary);
  if (!out) return io_error(path + ": cannot open for writing");
  if (!tp.SerializeToOstream(&out)) return io_error(path + ": write failed");
  return Status::ok();
}

}  // namespace joule::onnx_import
