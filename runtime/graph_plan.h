// A compiled graph: kernels chosen and prepared once, value lifetimes computed, subgraphs (If/Loop/Scan
// bodies) compiled recursively. The session runs its main graph through this, and control-flow kernels
// run bodies through the SubgraphRunner it hands them.
//
// Values are addressed by ValueRef {depth, id}: depth 0 is the graph itself, depth k the k-th enclosing
// graph (outer-scope reads from inside a body). At run time a Frame holds one graph's live tensors and
// points at the frame of the run that invoked it, so a body reads outer values without copies.
#pragma once

#include <memory>
#include <vector>

#include "kernels/kernel_registry.h"
#include "runtime/node_executor.h"
#include "runtime/ops/op_registry.h"

namespace joule {

struct ValueRef {
  int depth = 0;  // 0 = this graph, 1 = its parent, ...
  int id = -1;    // Value::id in that graph; -1 = omitted
};

struct GraphPlan;

struct PlanStep {
  const ir::Node* node = nullptr;
  const ops::OpDef* op = nullptr;
  const kernels::KernelDef* kernel = nullptr;
  std::shared_ptr<const void> state;
  std::vector<ValueRef> inputs;
  std::vector<int> outputs;   // value ids, -1 for omitted
  std::vector<int> release;   // value ids (depth 0) whose last reader (explicit or from a body) is this step
  std::vector<std::pair<const ir::Graph*, std::unique_ptr<GraphPlan>>> bodies;
};

struct GraphPlan {
  const ir::Graph* graph = nullptr;
  std::vector<PlanStep> steps;
  std::vector<Tensor> constants;   // by value id (undefined where not constant)
  std::vector<int> input_ids;      // graph inputs in order
  std::vector<ValueRef> outputs;   // graph outputs in order
  std::vector<ValueRef> outer_reads;  // depth >= 1 values this graph (and its bodies) read
  std::vector<bool> keep;          // per value id: graph output (never released)
};

struct CompileOptions {
  Isa isa = Isa::kScalar;
  /// Main graph only: drop a constant's storage (in the graph's Value, so in the plan too) once its last
  /// reader is compiled, when every reader packed it in prepare (KernelDef::packed_inputs with a non-null
  /// state): weights are then held once (packed), and at most one weight twice while compiling. Graph
  /// outputs, values read by bodies (If/Loop/Scan) and the bodies' own constants are kept. A released
  /// constant keeps its dtype, shape and quant params (data null), so run-time shape inference still sees it.
  bool release_packed_constants = false;
};

/// Compiles `g`; `ancestors` are the enclosing graphs, innermost first (empty for the main graph).
/// `unsupported_ops` collects labels of nodes without an op or kernel (the caller reports them).
Status compile_graph(const ir::Graph& g, const std::vector<const ir::Graph*>& ancestors, const CompileOptions& opts,
                     GraphPlan& plan, std::string& unsupported_ops, std::map<std::string, std::string>* kernel_names);

/// Bytes of `g`'s constants whose storage was released (CompileOptions::release_packed_constants).
int64_t released_constant_bytes(const ir::Graph& g);

/// Live tensors of one run of one graph.
struct Frame {
  const GraphPlan* plan = nullptr;
  std::vector<Tensor> slots;  // by value id
  const Frame* parent = nullptr;

  const Tensor* resolve(const ValueRef& r) const {
    const Frame* f = this;
    for (int d = 0; d < r.depth && f; ++d) f = f->parent;
    if (!f || r.id < 0) return nullptr;
    const Tensor& t = f->slots[static_cast<size_t>(r.id)];
    return t.defined() ? &t : nullptr;
  }
};

/// Allocator that is told which step it allocates for (the session's arena allocator uses it).
struct StepAllocator : OutputAllocator {
  const PlanStep* step = nullptr;
};

/// Runs every step of `frame.plan` on `frame.slots` (inputs and constants already bound).
Status run_steps(Frame& frame, ThreadPool* pool, StepAllocator& alloc, uint64_t max_tensor_bytes);

}  // namespace joule
