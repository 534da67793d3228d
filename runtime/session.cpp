// Session: builds an execution plan from a graph once, then runs it from any number of threads.
#include "joule/session.h"

#include <cstring>
#include <mutex>

#include "kernels/kernel_registry.h"
#include "onnx_import/onnx_import.h"
#include "quant/qdq_fusion.h"
#include "runtime/buffer_pool.h"
#include "runtime/cuda_plan.h"
#include "runtime/graph_plan.h"
#include "runtime/node_executor.h"
#include "runtime/passes/fusion.h"
#include "runtime/passes/fold_if.h"
#include "runtime/passes/passes.h"
#include "runtime/planner.h"

namespace joule {

namespace {

/// Arena memory for one in-flight run; reused across runs through a free list.
struct Arena {
  std::shared_ptr<void> block;
};

}  // namespace

struct Session::Impl {
  ir::Graph graph;
  SessionOptions options;
  std::unique_ptr<ThreadPool> pool;
  GraphPlan main;  // compiled main graph (bodies of If/Loop/Scan nested in its steps)
  std::vector<IoInfo> inputs, outputs;
  SessionStats stats;
  MemoryPlan plan;
  mutable std::mutex arena_mu;
  mutable std::vector<std::shared_ptr<void>> free_arenas;
  std::shared_ptr<BufferPool> buffers = std::make_shared<BufferPool>();  // values the arena does not hold
  std::unique_ptr<CudaPlan> cuda;  // device "cuda": runtime/cuda_plan.h runs the graph instead of `main`

  Status build();
  Status validate_inputs(const std::vector<std::pair<std::string, Tensor>>& in, std::vector<Tensor>& slots) const;
  Status run(const std::vector<std::pair<std::string, Tensor>>& in, std::vector<Tensor>& out, bool bound) const;
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

/// Allocates from the planned arena when the inferred shape matches the plan, into a caller-bound output
/// tensor when one matches, from the heap otherwise.
struct PlannedAllocator final : StepAllocator {
  const ir::Graph* graph;
  const MemoryPlan* plan;
  std::byte* arena;
  std::shared_ptr<void> arena_owner;
  HeapAllocator heap;
  const std::vector<Tensor*>* bound = nullptr;  // by value id: caller tensor bound to a graph output, or null
  BufferPool* buffers = nullptr;                // reuses freed blocks across steps and runs instead of the heap

  PlannedAllocator(const ir::Graph* g, const MemoryPlan* p, std::byte* a, std::shared_ptr<void> owner, uint64_t max)
      : graph(g), plan(p), arena(a), arena_owner(std::move(owner)), heap(max) {}

  Status allocate(size_t idx, DType dtype, const Shape& shape, Tensor& out) override {
    int id = step->outputs[idx];
    if (bound && id >= 0 && (*bound)[static_cast<size_t>(id)]) {
      Tensor& b = *(*bound)[static_cast<size_t>(id)];
      if (b.dtype() == dtype && b.shape() == shape) {
        out = b;  // shares the caller's storage: the kernel writes straight into it
        if (!step->kernel->overwrites_outputs) std::memset(out.raw(), 0, out.nbytes());
        return Status::ok();
      }
    }
    if (arena && id >= 0 && plan->offset[static_cast<size_t>(id)] >= 0) {
      const ir::TensorDesc& d = graph->values[static_cast<size_t>(id)]->desc;
      if (d.dtype == dtype && d.shape == shape) {
        std::byte* p = arena + plan->offset[static_cast<size_t>(id)];
        // A view (plan->alias_of) shares its input's bytes: zeroing them would destroy the input.
        if (plan->alias_of[static_cast<size_t>(id)] < 0 && !step->kernel->overwrites_outputs)
          std::memset(p, 0, storage_bytes(dtype, shape_numel(shape)));
        out = Tensor::from_shared(dtype, shape, arena_owner, p);
        return Status::ok();
      }
    }
    if (buffers) return buffers->allocate(dtype, shape, heap.max_bytes, out);
    return heap.allocate(idx, dtype, shape, out);
  }
};

}  // namespace

namespace {
// Bodies point at their enclosing graph; moving the main graph into the session moved it.
void reparent_bodies(ir::Graph& g) {
  for (auto& n : g.nodes)
    for (auto& [k, a] : n->attrs) {
      if (a.g) { a.g->parent = &g; reparent_bodies(*a.g); }
      for (auto& sg : a.graphs) { sg->parent = &g; reparent_bodies(*sg); }
    }
}
}  // namespace

Status Session::Impl::build() {
  reparent_bodies(graph);
  if (options.device != "cpu" && options.device != "cuda")
    return invalid_argument("unknown device '" + options.device + "' (cpu|cuda)");
  if (options.device == "cuda") JOULE_RETURN_IF_ERROR(CudaPlan::available());
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
    JOULE_RETURN_IF_ERROR(quant::fuse_qdq(graph));  // quant/qdq_fusion.h: before folding turns DQ(weights) into floats
    JOULE_RETURN_IF_ERROR(passes::fold_constants(graph));
    bool folded_if = false;
    JOULE_RETURN_IF_ERROR(passes::fold_constant_ifs(graph, folded_if));
    if (folded_if) JOULE_RETURN_IF_ERROR(passes::fold_constants(graph));
    JOULE_RETURN_IF_ERROR(passes::eliminate_dead_nodes(graph));
    JOULE_RETURN_IF_ERROR(passes::fuse_operators(graph, isa));  // runtime/passes/fusion.h
    JOULE_RETURN_IF_ERROR(passes::infer_shapes(graph, options.input_shapes));
  }
  JOULE_RETURN_IF_ERROR(ir::verify_graph(graph));

  std::string unsupported_ops;
  CompileOptions copts;
  copts.isa = isa;
  // Weights held once (packed) unless asked otherwise; the CUDA plan uploads from the graph's constants.
  copts.release_packed_constants = !options.keep_constants && options.device != "cuda";
  JOULE_RETURN_IF_ERROR(compile_graph(graph, {}, copts, main, unsupported_ops, &stats.kernel_for_node));
  if (!unsupported_ops.empty()) return unsupported("unsupported ops: " + unsupported_ops);
  for (auto& v : graph.values)
    if (v->is_constant()) stats.constant_bytes += static_cast<int64_t>(v->constant.nbytes());
  plan = plan_memory(graph, /*alias_views=*/true);
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
  stats.node_count = main.steps.size();
  if (options.device == "cuda") {
    stats.kernel_for_node.clear();
    JOULE_RETURN_IF_ERROR(CudaPlan::create(graph, cuda, &stats.kernel_for_node, nullptr));
  }
  stats.released_constant_bytes = released_constant_bytes(graph);  // runtime/graph_plan.h
  stats.resident_constant_bytes = stats.constant_bytes - stats.released_constant_bytes;
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

Status Session::Impl::run(const std::vector<std::pair<std::string, Tensor>>& in, std::vector<Tensor>& out,
                          bool bound) const {
  Frame frame{&main, main.constants, nullptr};
  JOULE_RETURN_IF_ERROR(validate_inputs(in, frame.slots));
  if (cuda) {  // inputs copied to the device, outputs back; run_into copies into matching bound tensors
    std::vector<Tensor> ins, res;
    for (ir::Value* v : graph.inputs) ins.push_back(frame.slots[static_cast<size_t>(v->id)]);
    JOULE_RETURN_IF_ERROR(cuda->run(ins, res, pool.get()));
    if (bound && out.size() != res.size()) return invalid_argument("run_into: expected " + std::to_string(res.size()) + " output tensors");
    if (!bound) out.assign(res.size(), Tensor());
    for (size_t i = 0; i < res.size(); ++i) {
      if (bound && out[i].defined() && out[i].dtype() == res[i].dtype() && out[i].shape() == res[i].shape())
        std::memcpy(out[i].raw(), res[i].raw(), res[i].nbytes());
      else
        out[i] = res[i];
    }
    return Status::ok();
  }
  std::vector<Tensor*> bound_by_id;
  if (bound) {
    if (out.size() != graph.outputs.size())
      return invalid_argument("run_into: expected " + std::to_string(graph.outputs.size()) + " output tensors (one per model output, undefined where not bound), got " + std::to_string(out.size()));
    bound_by_id.assign(graph.values.size(), nullptr);
    for (size_t i = 0; i < out.size(); ++i) {
      if (!out[i].defined()) continue;
      // A bound output must not share storage with an input: the kernel would read what it overwrites.
      bool aliases = false;
      for (const auto& named : in) aliases |= named.second.raw() == out[i].raw();
      if (!aliases) bound_by_id[static_cast<size_t>(graph.outputs[i]->id)] = &out[i];
    }
  }
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
  if (bound) alloc.bound = &bound_by_id;
  alloc.buffers = buffers.get();
  Status status = run_steps(frame, pool.get(), alloc, options.max_tensor_bytes);
  if (status.is_ok()) {
    if (!bound) out.assign(graph.outputs.size(), Tensor());
    for (size_t i = 0; i < graph.outputs.size(); ++i) {
      const Tensor& t = frame.slots[static_cast<size_t>(graph.outputs[i]->id)];
      if (bound && out[i].defined() && t.defined() && t.raw() == out[i].raw()) continue;  // written in place
      if (bound && out[i].defined() && t.defined() && t.dtype() == out[i].dtype() && t.shape() == out[i].shape() &&
          t.nbytes() > 0) {
        std::memcpy(out[i].raw(), t.raw(), t.nbytes());  // produced elsewhere (aliasing input, control flow)
        continue;
      }
      // Outputs must not alias the arena or constants the session keeps.
      out[i] = t.defined() ? t.clone() : t;
    }
  }
  frame.slots.clear();
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
  return impl_->run(inputs, outputs, false);
}

Status Session::run_into(const std::vector<std::pair<std::string, Tensor>>& inputs, std::vector<Tensor>& outputs) const {
  return impl_->run(inputs, outputs, true);
}

std::vector<Tensor> Session::run(const std::vector<std::pair<std::string, Tensor>>& inputs) const {
  std::vector<Tensor> out;
  throw_if_error(impl_->run(inputs, out, false));
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
