// CUDA execution of a session; see cuda_plan.h.
#include "runtime/cuda_plan.h"

#ifdef JOULE_WITH_CUDA

#include <cstdlib>
#include <mutex>

#include "kernels/cuda/cuda_context.h"
#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/node_executor.h"
#include "runtime/ops/op_registry.h"
#include "runtime/planner.h"

namespace joule {

namespace cu = kernels::cuda;

struct CudaPlan::Impl {
  struct Step {
    const ir::Node* node = nullptr;
    const ops::OpDef* op = nullptr;
    const kernels::KernelDef* kernel = nullptr;
    bool on_cpu = false;  // fallback: inputs copied to the host, outputs back to the device
    std::shared_ptr<const void> state;
    std::vector<int> inputs, outputs;  // value ids, -1 where omitted
  };
  const ir::Graph* graph = nullptr;
  std::unique_ptr<cu::CudaContext> ctx;
  std::vector<Step> steps;
  std::vector<Tensor> values;  // by value id: device tensors (constants uploaded; activations in the arena or own)
  std::shared_ptr<void> arena;
  bool has_cpu_steps = false;
  mutable std::mutex mu;
  mutable int runs = 0;
  mutable cu::CapturedGraph captured;
  mutable bool capture_failed = false;

  Status run_steps(ThreadPool* pool) const;
  Status run_cpu_step(const Step& s, ThreadPool* pool) const;
};

Status CudaPlan::available() { return cu::device_status(); }

CudaPlan::CudaPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaPlan::~CudaPlan() = default;

namespace {

bool static_desc(const ir::TensorDesc& d) {
  if (d.dtype == DType::kUndefined || !d.rank_known) return false;
  for (int64_t x : d.shape)
    if (x < 0) return false;
  return true;
}

}  // namespace

Status CudaPlan::coverage(const ir::Graph& g, std::vector<std::pair<std::string, std::string>>& label_kernel) {
  const kernels::KernelRegistry& kreg = kernels::KernelRegistry::builtin();
  for (const auto& np : g.nodes) {
    kernels::KernelQuery q{*np, {}, {}};
    for (ir::Value* v : np->inputs) {
      q.inputs.push_back(v ? v->desc : ir::TensorDesc{});
      q.constant_inputs.push_back(v && v->is_constant() ? &v->constant : nullptr);
    }
    const kernels::KernelDef* k = kreg.select(q, kernels::Device::kCuda, Isa::kScalar);
    label_kernel.emplace_back(np->label(), k ? k->name : std::string());
  }
  return Status::ok();
}

Status CudaPlan::create(const ir::Graph& g, std::unique_ptr<CudaPlan>& out, std::map<std::string, std::string>* kernel_names,
                        std::vector<std::string>* cpu_fallback_nodes) {
  auto im = std::make_unique<Impl>();
  im->graph = &g;
  JOULE_RETURN_IF_ERROR(cu::CudaContext::create(im->ctx));
  const size_t nv = g.values.size();
  im->values.assign(nv, Tensor());

  // Device storage: constants uploaded, planned activations in one arena, the rest (graph inputs and
  // outputs) in buffers of their own. Every shape is known now, so runs never allocate.
  MemoryPlan plan = plan_memory(g);
  if (plan.arena_bytes > 0) JOULE_RETURN_IF_ERROR(cu::device_alloc(static_cast<size_t>(plan.arena_bytes), im->arena));
  for (const auto& vp : g.values) {
    const ir::Value& v = *vp;
    const size_t id = static_cast<size_t>(v.id);
    if (v.is_constant()) {
      JOULE_RETURN_IF_ERROR(cu::upload(v.constant, im->values[id]).with_context("uploading '" + v.name + "'"));
      continue;
    }
    if (!static_desc(v.desc))
      return unsupported("device 'cuda' runs static shapes only: value '" + v.name + "' has shape " +
                         (v.desc.rank_known ? shape_to_string(v.desc.shape) : std::string("of unknown rank")) +
                         " (give the input shapes, e.g. joule run --shape NAME=1x3x224x224)");
    if (id < plan.offset.size() && plan.offset[id] >= 0) {
      std::byte* p = static_cast<std::byte*>(im->arena.get()) + plan.offset[id];
      im->values[id] = Tensor::from_shared(v.desc.dtype, v.desc.shape, im->arena, p);
    } else {
      JOULE_RETURN_IF_ERROR(cu::device_tensor(v.desc.dtype, v.desc.shape, im->values[id]));
    }
  }

  const ops::OpRegistry& oreg = ops::OpRegistry::builtin();
  const kernels::KernelRegistry& kreg = kernels::KernelRegistry::builtin();
  for (const auto& np : g.nodes) {
    const ir::Node& n = *np;
    for (auto& [k, a] : n.attrs)
      if (a.g || !a.graphs.empty()) return unsupported(n.label() + ": control flow (subgraphs) is not supported on device 'cuda'");
    Impl::Step s;
    s.node = &n;
    s.op = oreg.find(n.domain, n.op_type);
    if (!s.op) return unsupported(n.label() + ": unknown op");
    kernels::KernelQuery q{n, {}, {}};
    for (ir::Value* v : n.inputs) {
      q.inputs.push_back(v ? v->desc : ir::TensorDesc{});
      q.constant_inputs.push_back(v && v->is_constant() ? &v->constant : nullptr);
      s.inputs.push_back(v ? v->id : -1);
    }
    for (ir::Value* v : n.outputs) s.outputs.push_back(v ? v->id : -1);
    s.kernel = kreg.select(q, kernels::Device::kCuda, Isa::kScalar);
    if (!s.kernel) {
      s.kernel = kreg.select(q, kernels::Device::kCpu, max_isa());
      if (!s.kernel) return unsupported(n.label() + ": no CUDA or CPU kernel accepts its input types");
      if (s.kernel->allocates_outputs) return unsupported(n.label() + ": " + s.kernel->name + " cannot run as a CUDA-session fallback");
      s.on_cpu = true;
      im->has_cpu_steps = true;
      if (cpu_fallback_nodes) cpu_fallback_nodes->push_back(n.label());
    }
    if (s.kernel->prepare) JOULE_RETURN_IF_ERROR(s.kernel->prepare(q, s.state).with_context(n.label()));
    if (kernel_names) (*kernel_names)[n.label()] = s.on_cpu ? s.kernel->name + " (CPU fallback, copies to/from the GPU)" : s.kernel->name;
    im->steps.push_back(std::move(s));
  }
  out.reset(new CudaPlan(std::move(im)));
  return Status::ok();
}

Status CudaPlan::Impl::run_cpu_step(const Step& s, ThreadPool* pool) const {
  JOULE_RETURN_IF_ERROR(ctx->synchronize());
  std::vector<Tensor> host(s.inputs.size());
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    if (s.inputs[i] < 0) {
      ins.push_back(nullptr);
      continue;
    }
    const ir::Value& v = *graph->values[static_cast<size_t>(s.inputs[i])];
    if (v.is_constant()) {
      host[i] = v.constant;  // the host copy is still there
    } else {
      JOULE_RETURN_IF_ERROR(cu::download(values[static_cast<size_t>(s.inputs[i])], host[i], ctx.get()));
    }
    ins.push_back(&host[i]);
  }
  std::vector<Tensor> outs;
  HeapAllocator heap(uint64_t{1} << 40);
  JOULE_RETURN_IF_ERROR(execute_node(*s.op, *s.kernel, s.state.get(), *s.node, ins, outs, pool, heap));
  for (size_t i = 0; i < s.outputs.size(); ++i) {
    if (s.outputs[i] < 0) continue;
    const Tensor& d = values[static_cast<size_t>(s.outputs[i])];
    if (outs[i].dtype() != d.dtype() || outs[i].shape() != d.shape())
      return internal_error(s.node->label() + ": CPU fallback produced " + shape_to_string(outs[i].shape()) +
                            ", the CUDA plan expected " + shape_to_string(d.shape()));
    JOULE_RETURN_IF_ERROR(cu::copy_host_to_device(const_cast<void*>(d.raw()), outs[i].raw(), outs[i].nbytes(), ctx.get()));
  }
  return ctx->synchronize();  // `outs` is freed on return
}

Status CudaPlan::Impl::run_steps(ThreadPool* pool) const {
  std::vector<const Tensor*> ins;
  std::vector<Tensor*> outs;
  for (const Step& s : steps) {
    if (s.on_cpu) {
      JOULE_RETURN_IF_ERROR(run_cpu_step(s, pool));
      continue;
    }
    ins.clear();
    outs.clear();
    for (int id : s.inputs) ins.push_back(id >= 0 ? &values[static_cast<size_t>(id)] : nullptr);
    for (int id : s.outputs) outs.push_back(id >= 0 ? const_cast<Tensor*>(&values[static_cast<size_t>(id)]) : nullptr);
    kernels::KernelContext kc{*s.node, ins, outs, pool, s.state.get(), nullptr};
    kc.device = ctx.get();
    JOULE_RETURN_IF_ERROR(s.kernel->run(kc).with_context(s.node->label() + " (" + s.kernel->name + ")"));
  }
  return Status::ok();
}

Status CudaPlan::run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, ThreadPool* pool) const {
  const Impl& im = *impl_;
  std::lock_guard<std::mutex> lk(im.mu);
  const ir::Graph& g = *im.graph;
  if (inputs.size() != g.inputs.size()) return invalid_argument("expected " + std::to_string(g.inputs.size()) + " inputs");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ir::Value& v = *g.inputs[i];
    const Tensor& d = im.values[static_cast<size_t>(v.id)];
    if (inputs[i].dtype() != d.dtype() || inputs[i].shape() != d.shape())
      return invalid_argument("input '" + v.name + "': the CUDA plan was built for " + shape_to_string(d.shape()) + ", got " +
                              shape_to_string(inputs[i].shape()) + " (device 'cuda' runs static shapes)");
    JOULE_RETURN_IF_ERROR(cu::copy_host_to_device(const_cast<void*>(d.raw()), inputs[i].raw(), inputs[i].nbytes(), im.ctx.get()));
  }
  static const bool graphs_on = [] {
    const char* e = std::getenv("JOULE_CUDA_GRAPH");
    return !(e && e[0] == '0');
  }();
  if (im.captured.ready()) {
    JOULE_RETURN_IF_ERROR(im.captured.launch(*im.ctx));
  } else if (graphs_on && !im.has_cpu_steps && !im.capture_failed && im.runs >= 1) {
    // Second run: capture the steps once (the first run warmed up cuBLAS), then replay.
    Status st = im.captured.begin_capture(*im.ctx);
    if (st.is_ok()) {
      Status body = im.run_steps(pool);
      st = im.captured.end_capture(*im.ctx);
      if (!body.is_ok()) st = body;
    }
    if (st.is_ok()) st = im.captured.launch(*im.ctx);
    if (!st.is_ok()) {
      im.capture_failed = true;  // run eagerly from now on
      JOULE_RETURN_IF_ERROR(im.ctx->synchronize());
      JOULE_RETURN_IF_ERROR(im.run_steps(pool));
    }
  } else {
    JOULE_RETURN_IF_ERROR(im.run_steps(pool));
  }
  outputs.assign(g.outputs.size(), Tensor());
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const Tensor& d = im.values[static_cast<size_t>(g.outputs[i]->id)];
    outputs[i] = Tensor(d.dtype(), d.shape());
    JOULE_RETURN_IF_ERROR(cu::copy_device_to_host(outputs[i].raw(), d.raw(), d.nbytes(), im.ctx.get()));
  }
  JOULE_RETURN_IF_ERROR(im.ctx->synchronize());
  ++im.runs;
  return Status::ok();
}

}  // namespace joule

#else  // !JOULE_WITH_CUDA

namespace joule {

struct CudaPlan::Impl {};

Status CudaPlan::available() {
  return unsupported("device 'cuda': joule was built without CUDA (configure with -DJOULE_CUDA=ON or AUTO and the CUDA "
                     "toolkit installed)");
}

Status CudaPlan::create(const ir::Graph&, std::unique_ptr<CudaPlan>&, std::map<std::string, std::string>*,
                        std::vector<std::string>*) {
  return available();
}

Status CudaPlan::coverage(const ir::Graph&, std::vector<std::pair<std::string, std::string>>&) { return available(); }

CudaPlan::CudaPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaPlan::~CudaPlan() = default;

Status CudaPlan::run(const std::vector<Tensor>&, std::vector<Tensor>&, ThreadPool*) const { return available(); }

}  // namespace joule

#endif  // JOULE_WITH_CUDA
