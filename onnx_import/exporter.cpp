// ir::Graph -> ModelProto. Writes a standard ONNX file that onnx.checker accepts and joule re-imports
// to the same graph: inputs/outputs with dtype and (symbolic) shapes, initializers (optionally in an
// external data file beside the model), nodes with every attribute kind, subgraphs and value_info.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "joule_onnx.pb.h"
#include "onnx_import/onnx_import.h"
#include "onnx_import/tensor_proto.h"

namespace joule::onnx_import {

namespace fs = std::filesystem;

namespace {

constexpr int kDefaultOpset = 17;     // used when a hand-built graph imports no ai.onnx opset
constexpr uint64_t kExternalAlign = 64;  // external tensors start on 64-byte offsets (mmap friendly)

/// Oldest IR version that a given ai.onnx opset requires (from the ONNX versioning table);
/// never below 4, because initializers are written without being listed as graph inputs.
int64_t min_ir_version(int opset) {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 12) return 7;
  if (opset >= 11) return 6;
  if (opset >= 10) return 5;
  return 4;
}

struct ExportState {
  std::string path;                 // the .onnx file, for messages
  ExportOptions opts;
  std::string data_name;            // external data file name relative to the model folder
  std::ofstream data;               // opened on the first external tensor
  uint64_t data_size = 0;
  std::unordered_set<const ir::Value*> used;  // values some node, graph output or subgraph reads
  std::unordered_map<const ir::Value*, std::string> names;
  std::set<std::string> taken;      // every name in the model, for naming unnamed values
};

// Every value read anywhere in the graph tree (node inputs and graph outputs, subgraphs included).
void collect_uses(const ir::Graph& g, std::unordered_set<const ir::Value*>& used) {
  for (const auto& n : g.nodes) {
    for (const ir::Value* v : n->inputs)
      if (v) used.insert(v);
    for (const auto& [k, a] : n->attrs) {
      if (a.g) collect_uses(*a.g, used);
      for (const auto& sg : a.graphs) collect_uses(*sg, used);
    }
  }
  for (const ir::Value* v : g.outputs)
    if (v) used.insert(v);
}

void collect_names(const ir::Graph& g, std::set<std::string>& taken) {
  for (const auto& v : g.values)
    if (!v->name.empty()) taken.insert(v->name);
  for (const auto& n : g.nodes)
    for (const auto& [k, a] : n->attrs) {
      if (a.g) collect_names(*a.g, taken);
      for (const auto& sg : a.graphs) collect_names(*sg, taken);
    }
}

// The name a value is written under; unnamed values (hand-built graphs) get a fresh unique one.
const std::string& value_name(ExportState& st, const ir::Value* v) {
  auto it = st.names.find(v);
  if (it != st.names.end()) return it->second;
  std::string n = v->name;
  if (n.empty()) {
    for (int k = 0; n.empty() || st.taken.count(n); ++k) n = "joule_value_" + std::to_string(k);
    st.taken.insert(n);
  }
  return st.names.emplace(v, std::move(n)).first->second;
}

/// Fills a ValueInfoProto from what is known about a value: no type when the dtype is unknown,
/// no shape when the rank is unknown, dim_param for named symbolic dims, an empty dim otherwise.
void write_value_info(ExportState& st, const ir::Value& v, onnx::ValueInfoProto& vi) {
  vi.set_name(value_name(st, &v));
  if (v.desc.dtype == DType::kUndefined) return;
  auto* tt = vi.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(v.desc.dtype));
  if (!v.desc.rank_known) return;
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < v.desc.shape.size(); ++i) {
    auto* d = shape->add_dim();
    if (v.desc.shape[i] >= 0) d->set_dim_value(v.desc.shape[i]);
    else if (i < v.dim_params.size() && !v.dim_params[i].empty()) d->set_dim_param(v.dim_params[i]);
  }
}

/// Writes an initializer inline (raw_data) or appends its bytes to the external data file.
Status write_initializer(ExportState& st, const std::string& name, const Tensor& t, onnx::TensorProto& p) {
  uint64_t bytes = t.nbytes();
  if (bytes > 0 && !t.raw())
    return invalid_argument("initializer '" + name + "' has no data: a session released it after packing it "
                            "(create the session with SessionOptions::keep_constants to export its graph)");
  if (st.opts.external_data_threshold == 0 || bytes < st.opts.external_data_threshold) {
    tensor_to_proto(t, name, p);
    return Status::ok();
  }
  if (!st.data.is_open()) {
    fs::path data_path = fs::path(st.path).parent_path() / st.data_name;
    st.data.open(data_path, std::ios::binary | std::ios::trunc);
    if (!st.data) return io_error(st.path + ": cannot create external data file '" + data_path.string() + "'");
  }
  uint64_t offset = (st.data_size + kExternalAlign - 1) / kExternalAlign * kExternalAlign;
  static const char zeros[kExternalAlign] = {};
  st.data.write(zeros, static_cast<std::streamsize>(offset - st.data_size));
  st.data.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(bytes));
  if (!st.data) return io_error(st.path + ": write to external data file '" + st.data_name + "' failed");
  st.data_size = offset + bytes;
  p.set_name(name);
  p.set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p.add_dims(d);
  p.set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* k, const std::string& v) {
    auto* e = p.add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", st.data_name);
  add("offset", std::to_string(offset));
  add("length", std::to_string(bytes));
  return Status::ok();
}

Status export_graph(ExportState& st, const ir::Graph& g, onnx::GraphProto& gp, bool main_graph);

Status write_attribute(ExportState& st, const std::string& name, const ir::Attribute& a, const ir::Node& n,
                       onnx::AttributeProto& ap) {
  using K = ir::Attribute::Kind;
  ap.set_name(name);
  switch (a.kind) {
    case K::kFloat: ap.set_type(onnx::AttributeProto::FLOAT); ap.set_f(a.f); break;
    case K::kInt: ap.set_type(onnx::AttributeProto::INT); ap.set_i(a.i); break;
    case K::kString: ap.set_type(onnx::AttributeProto::STRING); ap.set_s(a.s); break;
    case K::kFloats:
      ap.set_type(onnx::AttributeProto::FLOATS);
      for (float f : a.floats) ap.add_floats(f);
      break;
    case K::kInts:
      ap.set_type(onnx::AttributeProto::INTS);
      for (int64_t i : a.ints) ap.add_ints(i);
      break;
    case K::kStrings:
      ap.set_type(onnx::AttributeProto::STRINGS);
      for (const auto& s : a.strings) ap.add_strings(s);
      break;
    case K::kTensor:
      if (!a.t.defined()) return invalid_argument(st.path + ": node " + n.label() + " attribute '" + name + "' holds no tensor");
      ap.set_type(onnx::AttributeProto::TENSOR);
      tensor_to_proto(a.t, "", *ap.mutable_t());
      break;
    case K::kTensors:
      ap.set_type(onnx::AttributeProto::TENSORS);
      for (const Tensor& t : a.tensors) {
        if (!t.defined()) return invalid_argument(st.path + ": node " + n.label() + " attribute '" + name + "' holds an empty tensor");
        tensor_to_proto(t, "", *ap.add_tensors());
      }
      break;
    case K::kGraph:
      if (!a.g) return invalid_argument(st.path + ": node " + n.label() + " attribute '" + name + "' holds no graph");
      ap.set_type(onnx::AttributeProto::GRAPH);
      JOULE_RETURN_IF_ERROR(export_graph(st, *a.g, *ap.mutable_g(), false));
      break;
    case K::kGraphs:
      ap.set_type(onnx::AttributeProto::GRAPHS);
      for (const auto& sg : a.graphs) {
        if (!sg) return invalid_argument(st.path + ": node " + n.label() + " attribute '" + name + "' holds an empty graph");
        JOULE_RETURN_IF_ERROR(export_graph(st, *sg, *ap.add_graphs(), false));
      }
      break;
  }
  return Status::ok();
}

Status export_graph(ExportState& st, const ir::Graph& g, onnx::GraphProto& gp, bool main_graph) {
  gp.set_name(g.name.empty() ? (main_graph ? "joule_graph" : "joule_subgraph") : g.name);

  // Constants this graph owns and something reads; unread constants are dropped.
  std::unordered_set<const ir::Value*> written;
  for (const auto& v : g.values) {
    if (!v->is_constant() || !st.used.count(v.get())) continue;
    JOULE_RETURN_IF_ERROR(write_initializer(st, value_name(st, v.get()), v->constant, *gp.add_initializer()));
    written.insert(v.get());
  }
  for (const ir::Value* v : g.inputs) write_value_info(st, *v, *gp.add_input());

  std::unordered_set<const ir::Value*> is_output(g.outputs.begin(), g.outputs.end());
  for (const auto& np : g.nodes) {
    const ir::Node& n = *np;
    auto* node = gp.add_node();
    node->set_op_type(n.op_type);
    if (!n.name.empty()) node->set_name(n.name);
    if (!n.domain.empty()) node->set_domain(n.domain);
    // Omitted optional inputs/outputs are written as "", as ONNX specifies.
    for (const ir::Value* v : n.inputs) node->add_input(v ? value_name(st, v) : std::string());
    for (const ir::Value* v : n.outputs) node->add_output(v ? value_name(st, v) : std::string());
    for (const auto& [name, a] : n.attrs)
      JOULE_RETURN_IF_ERROR(write_attribute(st, name, a, n, *node->add_attribute()));
    // Intermediate values whose type is known get value_info (graph outputs are described below).
    for (const ir::Value* v : n.outputs)
      if (v && !is_output.count(v) && v->desc.dtype != DType::kUndefined) write_value_info(st, *v, *gp.add_value_info());
  }
  for (const ir::Value* v : g.outputs) {
    if (!v) return invalid_argument(st.path + ": graph '" + g.name + "' has an empty output");
    write_value_info(st, *v, *gp.add_output());
  }
  return Status::ok();
}

// Collects every (domain, opset) a node in the tree uses, for graphs built without opset_imports.
void collect_domains(const ir::Graph& g, std::map<std::string, int>& out) {
  for (const auto& n : g.nodes) {
    int& v = out[n->domain];
    v = std::max(v, n->opset);
    for (const auto& [k, a] : n->attrs) {
      if (a.g) collect_domains(*a.g, out);
      for (const auto& sg : a.graphs) collect_domains(*sg, out);
    }
  }
}

}  // namespace

Status export_model(const ir::Graph& g, const std::string& path, const ExportOptions& opts) {
  ExportState st;
  st.path = path;
  st.opts = opts;
  st.data_name = fs::path(path).stem().string() + ".data";
  collect_uses(g, st.used);
  collect_names(g, st.taken);

  onnx::ModelProto mp;
  // Opsets: the graph's imports, plus any domain a node uses that the graph does not import.
  std::map<std::string, int> opsets = g.opset_imports;
  std::map<std::string, int> used_domains;
  collect_domains(g, used_domains);
  for (const auto& [d, v] : used_domains)
    if (!opsets.count(d)) opsets[d] = v > 0 ? v : (d.empty() ? kDefaultOpset : 1);
  if (!opsets.count("")) opsets[""] = kDefaultOpset;
  for (const auto& [d, v] : opsets) {
    auto* os = mp.add_opset_import();
    os->set_domain(d);
    os->set_version(v);
  }
  mp.set_ir_version(std::max<int64_t>(g.ir_version, min_ir_version(opsets[""])));
  mp.set_producer_name("joule");
  mp.set_producer_version("0.1.0");

  JOULE_RETURN_IF_ERROR(export_graph(st, g, *mp.mutable_graph(), true));
  if (st.data.is_open()) {
    st.data.close();
    if (!st.data) return io_error(path + ": closing external data file '" + st.data_name + "' failed");
  }

  size_t size = mp.ByteSizeLong();
  if (size > (size_t{1} << 31) - 1)
    return resource_limit(path + ": model of " + std::to_string(size) +
                          " bytes is too large for protobuf; set ExportOptions::external_data_threshold");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return io_error(path + ": cannot open for writing");
  if (!mp.SerializeToOstream(&out)) return io_error(path + ": write failed");
  out.close();
  if (!out) return io_error(path + ": write failed");
  return Status::ok();
}

}  // namespace joule::onnx_import
