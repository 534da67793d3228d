// Graph construction, topological sort and structural verification.
#include "runtime/ir/graph.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace joule::ir {

int64_t Node::attr_int(const std::string& n, int64_t def) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? def : it->second.i;
}
float Node::attr_float(const std::string& n, float def) const {
  auto it = attrs.find(n);
  if (it == attrs.end()) return def;
  return it->second.kind == Attribute::Kind::kInt ? static_cast<float>(it->second.i) : it->second.f;
}
std::string Node::attr_string(const std::string& n, const std::string& def) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? def : it->second.s;
}
std::vector<int64_t> Node::attr_ints(const std::string& n, std::vector<int64_t> def) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? def : it->second.ints;
}
std::vector<float> Node::attr_floats(const std::string& n, std::vector<float> def) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? def : it->second.floats;
}
const Tensor* Node::attr_tensor(const std::string& n) const {
  auto it = attrs.find(n);
  return it == attrs.end() || it->second.kind != Attribute::Kind::kTensor ? nullptr : &it->second.t;
}
std::string Node::label() const {
  std::string l = domain.empty() ? op_type : domain + "." + op_type;
  return l + " '" + (name.empty() ? (outputs.empty() || !outputs[0] ? "?" : outputs[0]->name) : name) + "'";
}

Value* Graph::add_value(const std::string& name, bool uniquify) {
  std::string n = name;
  if (uniquify) {
    for (int k = 1; by_name_.count(n); ++k) n = name + "_" + std::to_string(k);
  }
  auto v = std::make_unique<Value>();
  v->id = static_cast<int>(values.size());
  v->name = n;
  Value* raw = v.get();
  values.push_back(std::move(v));
  if (!n.empty()) by_name_[n] = raw;
  return raw;
}

Value* Graph::add_constant(const std::string& name, Tensor t) {
  Value* v = add_value(name, true);
  v->desc = TensorDesc::known(t.dtype(), t.shape());
  v->constant = std::move(t);
  return v;
}

Node* Graph::add_node(std::string op_type, std::vector<Value*> ins, std::vector<Value*> outs, std::string name,
                      std::string domain) {
  auto n = std::make_unique<Node>();
  n->op_type = std::move(op_type);
  n->domain = std::move(domain);
  n->name = std::move(name);
  n->opset = opset(n->domain);
  n->inputs = std::move(ins);
  n->outputs = std::move(outs);
  for (Value* o : n->outputs)
    if (o) o->producer = n.get();
  nodes.push_back(std::move(n));
  return nodes.back().get();
}

Value* Graph::find_value(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

int Graph::opset(const std::string& domain) const {
  auto it = opset_imports.find(domain == "ai.onnx" ? "" : domain);
  if (it != opset_imports.end()) return it->second;
  return parent ? parent->opset(domain) : 0;
}

namespace {
bool owns(const Graph& g, const Value* v) {
  return v->id >= 0 && static_cast<size_t>(v->id) < g.values.size() && g.values[static_cast<size_t>(v->id)].get() == v;
}
void collect_outer_reads(const Graph& body, std::vector<Value*>& out) {
  auto add = [&](Value* v) {
    if (v && !owns(body, v)) out.push_back(v);
  };
  for (auto& n : body.nodes) {
    for (Value* v : n->inputs) add(v);
    for (auto& [k, a] : n->attrs) {
      std::vector<Value*> inner;
      if (a.g) collect_outer_reads(*a.g, inner);
      for (auto& sg : a.graphs) collect_outer_reads(*sg, inner);
      for (Value* v : inner) add(v);
    }
  }
  for (Value* v : body.outputs) add(v);
}
}  // namespace

std::vector<Value*> subgraph_outer_reads(const Node& n) {
  std::vector<Value*> out;
  for (auto& [k, a] : n.attrs) {
    if (a.g) collect_outer_reads(*a.g, out);
    for (auto& sg : a.graphs) collect_outer_reads(*sg, out);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Status Graph::toposort() {
  // Kahn's algorithm over producer edges; values from outer graphs count as available.
  std::unordered_map<const Node*, int> pending;
  std::unordered_map<const Value*, std::vector<Node*>> readers;
  std::unordered_set<const Node*> in_graph;
  for (auto& n : nodes) in_graph.insert(n.get());
  for (auto& n : nodes) {
    int deps = 0;
    std::vector<Value*> reads = n->inputs;
    if (!n->attrs.empty()) {
      // Values read by the node's subgraphs (outer scope) must be produced before the node runs.
      std::vector<Value*> implicit = subgraph_outer_reads(*n);
      reads.insert(reads.end(), implicit.begin(), implicit.end());
      std::sort(reads.begin(), reads.end());
      reads.erase(std::unique(reads.begin(), reads.end()), reads.end());
    }
    for (Value* v : reads) {
      if (v && v->producer && in_graph.count(v->producer)) {
        ++deps;
        readers[v].push_back(n.get());
      }
    }
    pending[n.get()] = deps;
  }
  std::vector<Node*> ready;
  for (auto& n : nodes)
    if (pending[n.get()] == 0) ready.push_back(n.get());
  std::vector<Node*> order;
  order.reserve(nodes.size());
  for (size_t head = 0; head < ready.size(); ++head) {
    Node* n = ready[head];
    order.push_back(n);
    for (Value* o : n->outputs) {
      if (!o) continue;
      auto it = readers.find(o);
      if (it == readers.end()) continue;
      for (Node* r : it->second)
        if (--pending[r] == 0) ready.push_back(r);
    }
  }
  if (order.size() != nodes.size()) {
    for (auto& n : nodes)
      if (pending[n.get()] > 0) return invalid_model("graph has a cycle through node " + n->label());
  }
  std::unordered_map<const Node*, size_t> pos;
  for (size_t i = 0; i < order.size(); ++i) pos[order[i]] = i;
  std::sort(nodes.begin(), nodes.end(),
            [&](const std::unique_ptr<Node>& a, const std::unique_ptr<Node>& b) { return pos[a.get()] < pos[b.get()]; });
  return Status::ok();
}

std::vector<std::vector<Node*>> Graph::consumers() const {
  std::vector<std::vector<Node*>> out(values.size());
  for (auto& n : nodes)
    for (Value* v : n->inputs)
      if (v && v->id >= 0 && static_cast<size_t>(v->id) < values.size() && values[v->id].get() == v)
        out[static_cast<size_t>(v->id)].push_back(n.get());
  return out;
}

namespace {
void mark_graph_uses(const Graph& g, std::unordered_set<const Value*>& used);
void mark_node_uses(const Node& n, std::unordered_set<const Value*>& used) {
  for (Value* v : n.inputs)
    if (v) used.insert(v);
  for (Value* v : n.outputs)
    if (v) used.insert(v);
  for (auto& [k, a] : n.attrs) {
    if (a.g) mark_graph_uses(*a.g, used);
    for (auto& sg : a.graphs) mark_graph_uses(*sg, used);
  }
}
void mark_graph_uses(const Graph& g, std::unordered_set<const Value*>& used) {
  for (auto& n : g.nodes) mark_node_uses(*n, used);
  for (Value* v : g.outputs) used.insert(v);
}
}  // namespace

void Graph::compact() {
  std::unordered_set<const Value*> used;
  for (Value* v : inputs) used.insert(v);
  mark_graph_uses(*this, used);
  std::vector<std::unique_ptr<Value>> kept;
  kept.reserve(values.size());
  by_name_.clear();
  for (auto& v : values) {
    if (!used.count(v.get())) continue;
    v->id = static_cast<int>(kept.size());
    by_name_[v->name] = v.get();
    kept.push_back(std::move(v));
  }
  values = std::move(kept);
}

void Graph::remove_node(Node* n) {
  for (Value* o : n->outputs)
    if (o && o->producer == n) o->producer = nullptr;
  nodes.erase(std::remove_if(nodes.begin(), nodes.end(), [&](const std::unique_ptr<Node>& p) { return p.get() == n; }),
              nodes.end());
}

void Graph::replace_uses(Value* from, Value* to) {
  for (auto& n : nodes)
    for (Value*& v : n->inputs)
      if (v == from) v = to;
  for (Value*& v : outputs)
    if (v == from) v = to;
}

Status verify_graph(const Graph& g) {
  std::unordered_set<const Value*> defined;
  std::set<std::string> names;
  for (auto& v : g.values) {
    if (!v->name.empty() && !names.insert(v->name).second)
      return invalid_model("value name '" + v->name + "' is defined more than once");
  }
  for (Value* v : g.inputs) defined.insert(v);
  for (auto& v : g.values)
    if (v->is_constant()) defined.insert(v.get());
  auto outer_defined = [&](const Value* v) {
    for (const Graph* p = g.parent; p; p = p->parent)
      for (auto& pv : p->values)
        if (pv.get() == v) return true;
    return false;
  };
  for (auto& n : g.nodes) {
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const Value* v = n->inputs[i];
      if (v && !defined.count(v) && !outer_defined(v))
        return invalid_model("node " + n->label() + " input " + std::to_string(i) + " '" + v->name +
                             "' is not produced by any earlier node, graph input or initializer");
    }
    for (Value* o : n->outputs) {
      if (!o) continue;
      if (o->producer != n.get())
        return internal_error("value '" + o->name + "' lists the wrong producer (expected " + n->label() + ")");
      if (!defined.insert(o).second)
        return invalid_model("value '" + o->name + "' is produced more than once (again by " + n->label() + ")");
    }
  }
  for (Value* o : g.outputs)
    if (!defined.count(o) && !outer_defined(o))
      return invalid_model("graph output '" + o->name + "' is not produced by any node, input or initializer");
  return Status::ok();
}

}  // namespace joule::ir
