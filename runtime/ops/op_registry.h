// Op definitions: arity and shape/type inference for each supported (domain, op_type).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/ir/graph.h"

namespace joule::ops {

using ir::Node;
using ir::TensorDesc;

/// What an op's inference function sees: input descs, constant input values where known, and
/// the output descs it must fill. At run time every input value is known.
class InferContext {
 public:
  InferContext(const Node& node, std::vector<TensorDesc> inputs, std::vector<const Tensor*> values, size_t num_outputs)
      : node_(node), inputs_(std::move(inputs)), values_(std::move(values)), outputs_(num_outputs) {}

  const Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i].dtype != DType::kUndefined; }
  /// Input i's desc; an empty (unknown) desc for an omitted input or one past the node's inputs.
  const TensorDesc& input(size_t i) const {
    static const TensorDesc kAbsent;
    return i < inputs_.size() ? inputs_[i] : kAbsent;
  }
  /// The input's value when known (constant, or at run time); nullptr otherwise.
  const Tensor* input_value(size_t i) const { return i < values_.size() ? values_[i] : nullptr; }
  /// Output i's desc to fill; writing an optional output the node omits is harmless (it is ignored).
  TensorDesc& output(size_t i) {
    if (i >= outputs_.size()) outputs_.resize(i + 1);
    return outputs_[i];
  }
  std::vector<TensorDesc>& outputs() { return outputs_; }

  /// Error naming the node, for use as `return ctx.fail("...")`.
  Status fail(const std::string& msg) const { return invalid_model(node_.label() + ": " + msg); }
  Status fail_unsupported(const std::string& msg) const { return unsupported(node_.label() + ": " + msg); }
  /// Return this when an output shape depends on input i's value and input_value(i) is null
  /// (static inference leaves the output unknown; at run time every value is known).
  Status needs_value(size_t i) const {
    return invalid_argument(node_.label() + ": output shape depends on the value of input " + std::to_string(i));
  }

 private:
  const Node& node_;
  std::vector<TensorDesc> inputs_;
  std::vector<const Tensor*> values_;
  std::vector<TensorDesc> outputs_;
};

using InferFn = Status (*)(InferContext&);

/// Definition of one op. Inputs beyond min_inputs are optional.
struct OpDef {
  std::string domain;  // "" for ai.onnx
  std::string op_type;
  int min_inputs = 1;
  int max_inputs = 1;  // -1 = variadic
  int min_outputs = 1;
  int max_outputs = 1;
  InferFn infer = nullptr;
  bool deterministic = true;  // false for random ops: never constant-folded
};

/// Immutable after construction; the builtin registry holds every op joule knows.
class OpRegistry {
 public:
  void add(OpDef def);
  const OpDef* find(std::string_view domain, std::string_view op_type) const;
  std::vector<const OpDef*> all() const;
  static const OpRegistry& builtin();

 private:
  std::map<std::pair<std::string, std::string>, OpDef> defs_;
};

/// Checks a node's input and output counts and its required inputs against `op`; every inference
/// call checks this first, so infer functions may read inputs [0, min_inputs) and outputs [0, min_outputs).
Status check_arity(const OpDef& op, const ir::Node& n);

/// Normalizes "ai.onnx" to "".
std::string canonical_domain(std::string_view domain);

// One registration function per op family (runtime/ops/<family>.cpp).
void register_elementwise_ops(OpRegistry& r);
void register_activation_ops(OpRegistry& r);
void register_nn_ops(OpRegistry& r);
void register_linalg_ops(OpRegistry& r);
void register_reduce_ops(OpRegistry& r);
void register_shape_ops(OpRegistry& r);
void register_index_ops(OpRegistry& r);
void register_resize_pad_ops(OpRegistry& r);
void register_quant_ops(OpRegistry& r);
void register_control_ops(OpRegistry& r);
void register_rnn_ops(OpRegistry& r);
void register_matmul_nbits_ops(OpRegistry& r);  // com.microsoft MatMulNBits (INT4 weights)

}  // namespace joule::ops
