// Session: builds an execution plan from a graph once, then runs it from any number of threads.
#include "joule/session.h"

#include <cstring>
#include <mutex>

#include "kernels/kernel_registry.h"
#include "onnx_import/onnx_import.h"
#include "runtime/node_executor.h"
#include "runtime/passes/fusion.h"
#include "runtime/passes/passes.h"
#include "runtime/planner.h"

namespace joule {

namespace {

struct Step {
  const ir::Node* node = nullptr;
  const ops::OpDef* op = nullptr;
  const kernels::KernelDef* kernel = nullptr;
  std::shared_ptr<const void> state;
  std::vector<int> inputs;      // value ids, -1 for omitted
  std::vector<int> outputs;     // value ids, -1 for omitted
  std::vector<int> release;     // value ids whose last reader is this step
};

/// Arena memory for one in-flight run; reused across runs through a free list.
struct Arena {
  std::shared_ptr<void> block;
};

}  // namespace

struct Session::Impl {
  ir::Graph graph;
  SessionOptions options;
  std::unique_ptr<ThreadPool> pool;
  std::vector<Step> steps;
  std::vector<IoInfo> inputs, outputs;
  SessionStats stats;
  MemoryPlan plan;
  std::vector<Tensor> constants;  // by value id (undefined where not constant)
  std::vector<bool> is_graph_output;
  mutable std::mutex arena_mu;
  mutable std::vector<std::shared_ptr<void>> free_arenas;

  Status build();
  Status validate_inputs(const std::vector<std::pair<std::string, Tensor>>& in, std::vector<Tensor>& slots) const;
  Status run(const std::vector<std::pair<std::string, Tensor>>& in, std::vector<Tensor>& out) const;
};

namespace {

IoInfo io_info(const ir::Value& v) {
  IoInfo io;
  io.name = v.name;
  io.dtype = v.desc.dtype;
  io.shape = v.desc.shape;
  io.rank_known = v.desc.rank_known;
  io.dim_params = v.dim_params;
  return io;
}

/// Allocates from the planned arena when the inferred shape matches the plan, from the heap otherwise.
struct PlannedAllocator final : OutputAllocator {
  const ir::Graph* graph;
  const MemoryPlan* plan;
  const Step* step;
  std::byte* arena;
  std::shared_ptr<void> arena_owner;
  HeapAllocator heap;

  PlannedAllocator(const ir::Graph* g, const MemoryPlan* p, std::byte* a, std::shared_ptr<void> owner, uint64_t max)
      : graph(g), plan(p), step(nullptr), arena(a), arena_owner(std::move(owner)), heap(max) {}

  Status allocate(size_t idx, DType dtype, const Shape& shape, Tensor& out) override {
    int id = step->outputs[idx];
    if (arena && id >= 0 && plan->offset[static_cast<size_t>(id)] >= 0) {
      const ir::TensorDesc& d = graph->values[static_cast<size_t>(id)]->desc;
      if (d.dtype == dtype && d.shape == shape) {
        std::byte* p = arena + plan->offset[static_cast<size_t>(id)];
        std::memset(p, 0, storage_bytes(dtype, shape_numel(shape)));
        out = Tensor::from_shared(dtype, shape, arena_owner, p);
        return Status::ok();
      }
    }
    return heap.allocate(idx, dtype, shape, out);
  }
};

}  // namespace

Status Session::Impl::build() {
  if (options.device != "cpu")
    return unsupported("device '" + options.device + "' is not available in this build (only 'cpu')");
  Isa isa = max_isa();
  if (!options.isa.empty()) {
    Isa want;
    if (!parse_isa(options.isa, want)) return invalid_argument("unknown ISA '" + options.isa + "' (scalar|avx2|avx512|avx512vnni)");
    if (want > isa) return invalid_argument("ISA '" + options.isa + "' is not supported by this CPU");
    isa = want;
  }
  for (auto& [name, shape] : options.input_shapes) {
    bool found = false;
    for (ir::Value* v : graph.inputs) found |= v->name == name;
    if (!found) return invalid_argument("--shape names '" + name + "', which is not a model input");
  }
  for (ir::Value* v : graph.inputs) inputs.push_back(io_info(*v));  // declared shapes, before binding
  JOULE_RETURN_IF_ERROR(passes::infer_shapes(graph, options.input_shapes));
  if (options.optimize) {
    JOULE_RETURN_IF_ERROR(passes::fold_constants(graph));
    JOULE_RETURN_IF_ERROR(passes::eliminate_dead_nodes(graph));
    JOULE_RETURN_IF_ERROR(passes::fuse_operators(graph, isa));  // runtime/passes/fusion.h
    JOULE_RETURN_IF_ERROR(passes::infer_shapes(graph, options.input_shapes));
  }
  JOULE_RETURN_IF_ERROR(ir::verify_graph(graph));

  const ops::OpRegistry& oreg = ops::OpRegistry::builtin();
  const kernels::KernelRegistry& kreg = kernels::KernelRegistry::builtin();
  std::string unsupported_ops;
  for (auto& np : graph.nodes) {
    const ir::Node& n = *np;
    const ops::OpDef* op = oreg.find(n.domain, n.op_type);
    if (!op || !kreg.has_op(n.domain, n.op_type)) {
      if (unsupported_ops.size() < 400) unsupported_ops += (unsupported_ops.empty() ? "" : ", ") + n.label();
      continue;
    }
    JOULE_RETURN_IF_ERROR(ops::check_arity(*op, n));
    Step s;
    s.node = &n;
    s.op = op;
    kernels::KernelQuery q{n, {}, {}};
    for (ir::Value* v : n.inputs) {
      q.inputs.push_back(v ? v->desc : ir::TensorDesc{});
      q.constant_inputs.push_back(v && v->is_constant() ? &v->constant : nullptr);
      s.inputs.push_back(v ? v->id : -1);
    }
    for (ir::Value* v : n.outputs) s.outputs.push_back(v ? v->id : -1);
    s.kernel = kreg.select(q, kernels::Device::kCpu, isa);
    if (!s.kernel) return unsupported(n.label() + ": no kernel accepts its input types");
    if (s.kernel->prepare) JOULE_RETURN_IF_ERROR(s.kernel->prepare(q, s.state));
    stats.kernel_for_node[n.label()] = s.kernel->name;
    steps.push_back(std::move(s));
  }
  if (!unsupported_ops.empty()) return unsupported("unsupported ops: " + unsupported_ops);

  // Release each value after its last reader (graph outputs are kept).
  is_graph_output.assign(graph.values.size(), false);
  for (ir::Value* v : graph.outputs) is_graph_output[static_cast<size_t>(v->id)] = true;
  std::vector<int> last(graph.values.size(), -1);
  for (size_t i = 0; i < steps.size(); ++i)
    for (int id : steps[i].inputs)
      if (id >= 0) last[static_cast<size_t>(id)] = static_cast<int>(i);
  for (size_t id = 0; id < last.size(); ++id)
    if (last[id] >= 0 && !is_graph_output[id] && !graph.values[id]->is_constant())
      steps[static_cast<size_t>(last[id])].release.push_back(static_cast<int>(id));

  constants.assign(graph.values.size(), Tensor());
  for (auto& v : graph.values) {
    if (v->is_constant()) {
      constants[static_cast<size_t>(v->id)] = v->constant;
      stats.constant_bytes += static_cast<int64_t>(v->constant.nbytes());
    }
  }
  plan = plan_memory(graph);
  // Every run would allocate (and zero) planned values in the arena, bypassing the heap allocator's
  // size check: refuse a value over the per-tensor limit now, as the heap allocator would at run time.
  for (auto& v : graph.values) {
    if (static_cast<size_t>(v->id) >= plan.offset.size() || plan.offset[static_cast<size_t>(v->id)] < 0) continue;
    uint64_t bytes = storage_bytes(v->desc.dtype, shape_numel(v->desc.shape));
    if (bytes > options.max_tensor_bytes)
      return resource_limit("value '" + v->name + "' of shape " + shape_to_string(v->desc.shape) + " (" +
                            std::string(dtype_name(v->desc.dtype)) + ") needs " + std::to_string(bytes) +
                            " bytes, over the limit of " + std::to_string(options.max_tensor_bytes));
  }
  if (plan.complete) {
    stats.peak_activation_bytes = plan.arena_bytes;
    stats.naive_activation_bytes = plan.naive_bytes;
  }
  stats.node_count = steps.size();
  for (ir::Value* v : graph.outputs) outputs.push_back(io_info(*v));
  pool = std::make_unique<ThreadPool>(options.threads);
  return Status::ok();
}

Status Session::Impl::validate_inputs(const std::vector<std::pair<std::string, Tensor>>& in,
                                      std::vector<Tensor>& slots) const {
  std::vector<bool> seen(graph.inputs.size(), false);
  for (const auto& named : in) {
    // Plain references, not a structured binding: clang 14 (the fuzz build) cannot capture those in lambdas.
    const std::string& name = named.first;
    const Tensor& t = named.second;
    size_t k = 0;
    while (k < graph.inputs.size() && graph.inputs[k]->name != name) ++k;
    if (k == graph.inputs.size()) {
      std::string names;
      for (ir::Value* v : graph.inputs) names += (names.empty() ? "" : ", ") + v->name;
      return invalid_argument("unknown input '" + name + "' (the model's inputs are: " + names + ")");
    }
    if (seen[k]) return invalid_argument("input '" + name + "' is given twice");
    seen[k] = true;
    const ir::Value& v = *graph.inputs[k];
    const IoInfo& io = inputs[k];
    auto expected = [&] {
      std::string s = std::string(dtype_name(io.dtype == DType::kUndefined ? t.dtype() : io.dtype));
      return s + " " + (io.rank_known ? shape_to_string(io.shape) : std::string("of any shape"));
    };
    auto actual = [&] { return std::string(dtype_name(t.dtype())) + " " + shape_to_string(t.shape()); };
    if (!t.defined()) return invalid_argument("input '" + name + "' is an empty tensor");
    if (io.dtype != DType::kUndefined && t.dtype() != io.dtype)
      return invalid_argument("input '" + name + "': expected " + expected() + ", got " + actual());
    if (io.rank_known) {
      // io.shape is the declared shape: -1 (symbolic) dims accept any size.
      bool ok = static_cast<int>(t.shape().size()) == static_cast<int>(io.shape.size());
      for (size_t i = 0; ok && i < io.shape.size(); ++i)
        if (io.shape[i] >= 0 && t.shape()[i] != io.shape[i]) ok = false;
      if (!ok) return invalid_argument("input '" + name + "': expected " + expected() + ", got " + actual());
    }
    slots[static_cast<size_t>(v.id)] = t;
  }
  for (size_t k = 0; k < graph.inputs.size(); ++k)
    if (!seen[k]) return invalid_argument("missing input '" + graph.inputs[k]->name + "'");
  return Status::ok();
}

Status Session::Impl::run(const std::vector<std::pair<std::string, Tensor>>& in, std::vector<Tensor>& out) const {
  std::vector<Tensor> slots = constants;
  JOULE_RETURN_IF_ERROR(validate_inputs(in, slots));
  std::shared_ptr<void> arena;
  if (plan.complete && plan.arena_bytes > 0) {
    std::lock_guard<std::mutex> lk(arena_mu);
    if (!free_arenas.empty()) {
      arena = std::move(free_arenas.back());
      free_arenas.pop_back();
    }
  }
  if (plan.complete && plan.arena_bytes > 0 && !arena) {
    Tensor block(DType::kU8, {plan.arena_bytes});
    // Keep the block alive through a shared_ptr that owns a copy of the Tensor handle.
    auto holder = std::make_shared<Tensor>(block);
    arena = std::shared_ptr<void>(holder, holder->raw());
  }
  PlannedAllocator alloc(&graph, &plan, static_cast<std::byte*>(arena.get()), arena, options.max_tensor_bytes);
  std::vector<const Tensor*> ins;
  std::vector<Tensor> outs;
  Status status = Status::ok();
  for (const Step& s : steps) {
    ins.clear();
    for (int id : s.inputs) {
      const Tensor* t = id >= 0 ? &slots[static_cast<size_t>(id)] : nullptr;
      ins.push_back(t && t->defined() ? t : nullptr);
    }
    alloc.step = &s;
    status = execute_node(*s.op, *s.kernel, s.state.get(), *s.node, ins, outs, pool.get(), alloc);
    if (!status.is_ok()) break;
    for (size_t i = 0; i < s.outputs.size(); ++i)
      if (s.outputs[i] >= 0) slots[static_cast<size_t>(s.outputs[i])] = std::move(outs[i]);
    for (int id : s.release) slots[static_cast<size_t>(id)] = Tensor();
  }
  if (status.is_ok()) {
    out.clear();
    for (ir::Value* v : graph.outputs) {
      Tensor t = slots[static_cast<size_t>(v->id)];
      // Outputs must not alias the arena or constants the session keeps.
      out.push_back(t.defined() ? t.clone() : t);
    }
  }
  slots.clear();
  if (arena) {
    std::lock_guard<std::mutex> lk(arena_mu);
    free_arenas.push_back(std::move(arena));
  }
  return status;
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Status Session::create(ir::Graph graph, const SessionOptions& options, std::unique_ptr<Session>& out) {
  auto impl = std::make_unique<Impl>();
  impl->graph = std::move(graph);
  impl->options = options;
  JOULE_RETURN_IF_ERROR(impl->build());
  out.reset(new Session(std::move(impl)));
  return Status::ok();
}

Status Session::create(const std::string& path, const SessionOptions& options, std::unique_ptr<Session>& out) {
  ir::Graph g;
  JOULE_RETURN_IF_ERROR(onnx_import::import_model(path, g));
  return create(std::move(g), options, out).with_context(path);
}

std::unique_ptr<Session> Session::load(const std::string& path, const SessionOptions& options) {
  std::unique_ptr<Session> s;
  throw_if_error(create(path, options, s));
  return s;
}

std::unique_ptr<Session> Session::from_graph(ir::Graph graph, const SessionOptions& options) {
  std::unique_ptr<Session> s;
  throw_if_error(create(std::move(graph), options, s));
  return s;
}

const std::vector<IoInfo>& Session::inputs() const { return impl_->inputs; }
const std::vector<IoInfo>& Session::outputs() const { return impl_->outputs; }
const SessionStats& Session::stats() const { return impl_->stats; }
const ir::Graph& Session::graph() const { return impl_->graph; }

Status Session::run(const std::vector<std::pair<std::string, Tensor>>& inputs, std::vector<Tensor>& outputs) const {
  return impl_->run(inputs, outputs);
}

std::vector<Tensor> Session::run(const std::vector<std::pair<std::string, Tensor>>& inputs) const {
  std::vector<Tensor> out;
  throw_if_error(impl_->run(inputs, out));
  return out;
}

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs) const {
  if (inputs.size() != impl_->inputs.size())
    throw Error(invalid_argument("expected " + std::to_string(impl_->inputs.size()) + " inputs, got " + std::to_string(inputs.size())));
  std::vector<std::pair<std::string, Tensor>> named;
  for (size_t i = 0; i < inputs.size(); ++i) named.emplace_back(impl_->inputs[i].name, inputs[i]);
  return run(named);
}

}  // namespace joule
