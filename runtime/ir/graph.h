// The runtime IR: a Graph of Nodes connected by Values. Protobuf never appears here.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "joule/status.h"
#include "joule/tensor.h"

namespace joule::ir {

struct Graph;

/// Element type and shape of a value as far as inference knows it.
/// Unknown dims are -1; `rank_known == false` means even the rank is unknown.
struct TensorDesc {
  DType dtype = DType::kUndefined;
  Shape shape;
  bool rank_known = false;

  bool fully_known() const { return rank_known && shape_numel(shape) >= 0; }
  int rank() const { return static_cast<int>(shape.size()); }
  static TensorDesc known(DType t, Shape s) { return {t, std::move(s), true}; }
};

/// A node attribute; exactly one of the payload fields is meaningful, chosen by `kind`.
struct Attribute {
  enum class Kind { kFloat, kInt, kString, kTensor, kGraph, kFloats, kInts, kStrings, kTensors, kGraphs };
  Kind kind = Kind::kInt;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;

  static Attribute of_int(int64_t v) { Attribute a; a.kind = Kind::kInt; a.i = v; return a; }
  static Attribute of_float(float v) { Attribute a; a.kind = Kind::kFloat; a.f = v; return a; }
  static Attribute of_string(std::string v) { Attribute a; a.kind = Kind::kString; a.s = std::move(v); return a; }
  static Attribute of_ints(std::vector<int64_t> v) { Attribute a; a.kind = Kind::kInts; a.ints = std::move(v); return a; }
  static Attribute of_floats(std::vector<float> v) { Attribute a; a.kind = Kind::kFloats; a.floats = std::move(v); return a; }
  static Attribute of_tensor(Tensor v) { Attribute a; a.kind = Kind::kTensor; a.t = std::move(v); return a; }
};

struct Node;

/// An edge of the graph: produced by one node (or a graph input / constant), read by many.
struct Value {
  int id = -1;  // index into Graph::values, kept dense by Graph::compact()
  std::string name;
  TensorDesc desc;
  std::vector<std::string> dim_params;  // symbolic dim names from the model ("" where none)
  Node* producer = nullptr;             // null for graph inputs and constants
  Tensor constant;                      // defined() for initializers and folded constants
  QuantParams quant;                    // quantization annotation (set by quant/ passes)

  bool is_constant() const { return constant.defined(); }
};

/// One operator application.
struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" for ai.onnx
  int opset = 0;       // version of `domain` the model imports
  std::vector<Value*> inputs;   // nullptr where an optional input is omitted
  std::vector<Value*> outputs;  // nullptr where an optional output is omitted
  std::map<std::string, Attribute> attrs;

  bool has_attr(const std::string& n) const { return attrs.count(n) != 0; }
  int64_t attr_int(const std::string& n, int64_t def) const;
  float attr_float(const std::string& n, float def) const;
  std::string attr_string(const std::string& n, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& n, std::vector<int64_t> def = {}) const;
  std::vector<float> attr_floats(const std::string& n, std::vector<float> def = {}) const;
  const Tensor* attr_tensor(const std::string& n) const;

  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  /// "Conv 'conv1'" style label for error messages.
  std::string label() const;
};

/// A computation graph. Nodes are kept in topological order by every pass.
struct Graph {
  std::string name;
  std::vector<std::unique_ptr<Value>> values;
  std::vector<std::unique_ptr<Node>> nodes;
  std::vector<Value*> inputs;   // runtime inputs, initializers excluded
  std::vector<Value*> outputs;  // graph outputs in model order
  std::map<std::string, int> opset_imports;  // domain ("" = ai.onnx) -> version
  int64_t ir_version = 8;
  std::string producer_name;
  Graph* parent = nullptr;  // enclosing graph for If/Loop/Scan bodies

  /// Creates a value with a unique name (a suffix is added on collision when `uniquify`).
  Value* add_value(const std::string& name, bool uniquify = false);
  Value* add_constant(const std::string& name, Tensor t);
  /// Appends a node; outputs' producer is set.
  Node* add_node(std::string op_type, std::vector<Value*> inputs, std::vector<Value*> outputs,
                 std::string name = {}, std::string domain = {});
  Value* find_value(const std::string& name) const;
  int opset(const std::string& domain = "") const;

  /// Sorts nodes topologically; fails naming a node on a cycle or a dangling input.
  Status toposort();
  /// Nodes that read each value, indexed by Value::id.
  std::vector<std::vector<Node*>> consumers() const;
  /// Drops values nobody references and renumbers ids densely.
  void compact();
  /// Removes `n` (its outputs lose their producer).
  void remove_node(Node* n);
  /// Rewrites every use of `from` (node inputs and graph outputs) to `to`.
  void replace_uses(Value* from, Value* to);

 private:
  std::map<std::string, Value*> by_name_;
  friend Status verify_graph(const Graph& g);
};

/// Values read from inside the subgraphs of `n` (node inputs and body outputs, nested bodies included)
/// that the subgraphs do not define themselves: the node's implicit (outer-scope) inputs.
std::vector<Value*> subgraph_outer_reads(const Node& n);

/// Checks structural invariants: unique names, inputs defined before use, outputs produced.
Status verify_graph(const Graph& g);

}  // namespace joule::ir
