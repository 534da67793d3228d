// Compiling graphs (main graph and bodies) into steps, and running them; see graph_plan.h.
#include "runtime/graph_plan.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>

#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "runtime/ops/control_bodies.h"

namespace joule {

namespace {

/// JOULE_PROFILE=1: median wall time per (kernel, node, output shape) over all runs, printed to
/// stderr at exit, slowest first. A diagnostic only: it adds two clock reads per step when enabled.
/// JOULE_PROFILE=cpu times process CPU time instead (all threads), which preemption on a loaded machine
/// does not inflate.
struct StepProfile {
  std::mutex mu;
  std::map<std::string, std::vector<double>> ms_calls;
  bool cpu = false;
  static StepProfile* get() {
    static StepProfile* p = [] {
      const char* e = std::getenv("JOULE_PROFILE");
      if (!e) return static_cast<StepProfile*>(nullptr);
      auto* sp = new StepProfile;
      sp->cpu = std::string_view(e) == "cpu";
      return sp;
    }();
    return p;
  }
  double now_ms() const {
    if (cpu) {
      timespec ts{};
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
      return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  ~StepProfile() = default;
  static void dump() {
    StepProfile* p = get();
    std::vector<std::pair<double, std::string>> rows;
    double total = 0, total_mean = 0;
    for (auto& [k, v] : p->ms_calls) {
      std::vector<double> sorted = v;
      std::sort(sorted.begin(), sorted.end());
      const double med = sorted[sorted.size() / 2];
      double sum = 0;
      for (double t : v) sum += t;
      rows.push_back({med, k + " x" + std::to_string(v.size()) + " (mean " + std::to_string(sum / v.size()) + ")"});
      total += med;
      total_mean += sum / v.size();
    }
    std::sort(rows.rbegin(), rows.rend());
    std::fprintf(stderr, "JOULE_PROFILE sum of per-step medians %.4f ms, of means %.4f ms%s\n", total, total_mean,
                 p->cpu ? " (process CPU time)" : "");
    for (auto& [ms, k] : rows) std::fprintf(stderr, "%10.4f ms %5.1f%%  %s\n", ms, 100.0 * ms / total, k.c_str());
  }
};

bool owns(const ir::Graph& g, const ir::Value* v) {
  return v->id >= 0 && static_cast<size_t>(v->id) < g.values.size() && g.values[static_cast<size_t>(v->id)].get() == v;
}

/// Runs the bodies of one step on behalf of its kernel, as children of the frame running the step.
class BodyRunner final : public kernels::SubgraphRunner {
 public:
  BodyRunner(const PlanStep* step, const Frame* frame, ThreadPool* pool, uint64_t max_bytes)
      : step_(step), frame_(frame), pool_(pool), max_bytes_(max_bytes) {}

  uint64_t max_tensor_bytes() const override { return max_bytes_; }

  Status run(const ir::Graph& body, const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) const override {
    const GraphPlan* p = nullptr;
    for (auto& [g, plan] : step_->bodies)
      if (g == &body) p = plan.get();
    if (!p) return internal_error(step_->node->label() + ": body graph '" + body.name + "' was not compiled");
    if (inputs.size() != p->input_ids.size())
      return invalid_argument(step_->node->label() + ": body '" + body.name + "' declares " +
                              std::to_string(p->input_ids.size()) + " inputs, the op passes " + std::to_string(inputs.size()));
    Frame child{p, p->constants, frame_};
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i]) child.slots[static_cast<size_t>(p->input_ids[i])] = *inputs[i];
    struct Heap final : StepAllocator {
      HeapAllocator heap;
      explicit Heap(uint64_t m) : heap(m) {}
      Status allocate(size_t i, DType t, const Shape& s, Tensor& out) override { return heap.allocate(i, t, s, out); }
    } alloc(max_bytes_);
    JOULE_RETURN_IF_ERROR(run_steps(child, pool_, alloc, max_bytes_));
    outputs.assign(p->outputs.size(), Tensor());
    for (size_t i = 0; i < p->outputs.size(); ++i) {
      const ValueRef& r = p->outputs[i];
      const Tensor* t = child.resolve(r);
      if (!t) return invalid_argument(step_->node->label() + ": body '" + body.name + "' output " + std::to_string(i) + " has no value");
      // A value a body step produced belongs to this run; anything else (body input, constant, outer
      // value, possibly in the caller's arena) is copied so the op's outputs never alias it.
      bool owned = r.depth == 0 && p->graph->values[static_cast<size_t>(r.id)]->producer != nullptr &&
                   !p->graph->values[static_cast<size_t>(r.id)]->is_constant();
      outputs[i] = owned ? *t : t->clone();
    }
    return Status::ok();
  }

 private:
  const PlanStep* step_;
  const Frame* frame_;
  ThreadPool* pool_;
  uint64_t max_bytes_;
};

}  // namespace

Status compile_graph(const ir::Graph& g, const std::vector<const ir::Graph*>& ancestors, const CompileOptions& opts,
                     GraphPlan& plan, std::string& unsupported_ops, std::map<std::string, std::string>* kernel_names) {
  plan.graph = &g;
  auto ref_of = [&](const ir::Value* v, ValueRef& r) -> Status {
    if (!v) { r = {0, -1}; return Status::ok(); }
    if (owns(g, v)) { r = {0, v->id}; return Status::ok(); }
    for (size_t k = 0; k < ancestors.size(); ++k)
      if (owns(*ancestors[k], v)) { r = {static_cast<int>(k) + 1, v->id}; return Status::ok(); }
    return invalid_model("value '" + v->name + "' is read in graph '" + g.name + "' but defined in no enclosing graph");
  };
  const ops::OpRegistry& oreg = ops::OpRegistry::builtin();
  const kernels::KernelRegistry& kreg = kernels::KernelRegistry::builtin();
  std::vector<std::vector<int>> implicit;  // per step: depth-0 ids read by its bodies
  // CompileOptions::release_packed_constants: readers not compiled yet, and constants someone needs whole.
  const bool release = opts.release_packed_constants && ancestors.empty();
  std::vector<int> readers_left;
  std::vector<char> needed;
  if (release) {
    readers_left.assign(g.values.size(), 0);
    needed.assign(g.values.size(), 0);
    for (auto& np : g.nodes)
      for (ir::Value* v : np->inputs)
        if (v && owns(g, v) && v->is_constant()) ++readers_left[static_cast<size_t>(v->id)];
    for (ir::Value* v : g.outputs)
      if (v && owns(g, v)) needed[static_cast<size_t>(v->id)] = 1;
    std::function<void(const ir::Graph&)> mark_body_reads = [&](const ir::Graph& outer) {
      for (auto& np : outer.nodes)
        for (auto& [k, a] : np->attrs) {
          std::vector<const ir::Graph*> bodies;
          if (a.g) bodies.push_back(a.g.get());
          for (auto& sg : a.graphs) bodies.push_back(sg.get());
          for (const ir::Graph* b : bodies) {
            for (auto& bn : b->nodes)
              for (ir::Value* v : bn->inputs)
                if (v && owns(g, v)) needed[static_cast<size_t>(v->id)] = 1;
            for (ir::Value* v : b->outputs)
              if (v && owns(g, v)) needed[static_cast<size_t>(v->id)] = 1;
            mark_body_reads(*b);
          }
        }
    };
    mark_body_reads(g);
  }
  for (auto& np : g.nodes) {
    const ir::Node& n = *np;
    const ops::OpDef* op = oreg.find(n.domain, n.op_type);
    if (!op || !kreg.has_op(n.domain, n.op_type)) {
      if (unsupported_ops.size() < 400) unsupported_ops += (unsupported_ops.empty() ? "" : ", ") + n.label();
      continue;
    }
    JOULE_RETURN_IF_ERROR(ops::check_arity(*op, n));
    PlanStep s;
    s.node = &n;
    s.op = op;
    bool has_bodies = false;
    for (auto& [k, a] : n.attrs) has_bodies |= a.g != nullptr || !a.graphs.empty();
    if (has_bodies) JOULE_RETURN_IF_ERROR(ops::prepare_control_bodies(n));
    kernels::KernelQuery q{n, {}, {}};
    for (ir::Value* v : n.inputs) {
      q.inputs.push_back(v ? v->desc : ir::TensorDesc{});
      q.constant_inputs.push_back(v && v->is_constant() ? &v->constant : nullptr);
      ValueRef r;
      JOULE_RETURN_IF_ERROR(ref_of(v, r));
      if (r.depth > 0) plan.outer_reads.push_back({r.depth - 0, r.id});
      s.inputs.push_back(r);
    }
    for (ir::Value* v : n.outputs) s.outputs.push_back(v ? v->id : -1);
    s.kernel = kreg.select(q, kernels::Device::kCpu, opts.isa);
    // Inside bodies some dtypes may be unknown at build time: the reference kernel takes every dtype.
    if (!s.kernel && !ancestors.empty()) s.kernel = kreg.reference(n.domain, n.op_type);
    if (!s.kernel) return unsupported(n.label() + ": no kernel accepts its input types");
    if (s.kernel->prepare) JOULE_RETURN_IF_ERROR(s.kernel->prepare(q, s.state));
    bool trim_heap = false;
    for (size_t i = 0; release && i < n.inputs.size(); ++i) {
      ir::Value* v = n.inputs[i];
      if (!v || !owns(g, v) || !v->is_constant()) continue;
      const size_t id = static_cast<size_t>(v->id);
      if (!s.state || i >= 32 || ((s.kernel->packed_inputs >> i) & 1u) == 0) needed[id] = 1;
      if (--readers_left[id] == 0 && !needed[id] && v->constant.raw()) {
        Tensor husk = Tensor::from_shared(v->constant.dtype(), v->constant.shape(), nullptr, nullptr);
        husk.quant = v->constant.quant;
        v->constant = std::move(husk);  // the packed copy in s.state is now the only one
        trim_heap = true;
      }
    }
#if defined(__GLIBC__)
    // A released constant's bytes are heap holes (the packed copies live in pages of their own): hand
    // the free pages back now, or the heap keeps them resident and peak RSS counts the weights twice.
    if (trim_heap) malloc_trim(0);
#endif
    if (kernel_names) (*kernel_names)[n.label()] = s.kernel->name;
    std::vector<int> reads;
    std::vector<const ir::Graph*> inner_anc{&g};
    inner_anc.insert(inner_anc.end(), ancestors.begin(), ancestors.end());
    for (auto& [k, a] : n.attrs) {
      std::vector<const ir::Graph*> bodies;
      if (a.g) bodies.push_back(a.g.get());
      for (auto& sg : a.graphs) bodies.push_back(sg.get());
      for (const ir::Graph* b : bodies) {
        auto bp = std::make_unique<GraphPlan>();
        JOULE_RETURN_IF_ERROR(compile_graph(*b, inner_anc, opts, *bp, unsupported_ops, kernel_names));
        for (const ValueRef& r : bp->outer_reads) {
          if (r.depth == 1) reads.push_back(r.id);
          else plan.outer_reads.push_back({r.depth - 1, r.id});
        }
        s.bodies.emplace_back(b, std::move(bp));
      }
    }
    implicit.push_back(std::move(reads));
    plan.steps.push_back(std::move(s));
  }
  for (ir::Value* v : g.outputs) {
    ValueRef r;
    JOULE_RETURN_IF_ERROR(ref_of(v, r));
    if (r.depth > 0) plan.outer_reads.push_back(r);
    plan.outputs.push_back(r);
  }
  std::sort(plan.outer_reads.begin(), plan.outer_reads.end(),
            [](const ValueRef& a, const ValueRef& b) { return a.depth != b.depth ? a.depth < b.depth : a.id < b.id; });
  plan.outer_reads.erase(std::unique(plan.outer_reads.begin(), plan.outer_reads.end(),
                                     [](const ValueRef& a, const ValueRef& b) { return a.depth == b.depth && a.id == b.id; }),
                         plan.outer_reads.end());
  for (ir::Value* v : g.inputs) plan.input_ids.push_back(v->id);

  // Release each value after its last reader; a body's outer-scope read counts as a read by the step
  // holding the body. Graph outputs and constants are kept.
  size_t nv = g.values.size();
  plan.keep.assign(nv, false);
  for (const ValueRef& r : plan.outputs)
    if (r.depth == 0 && r.id >= 0) plan.keep[static_cast<size_t>(r.id)] = true;
  std::vector<int> last(nv, -1);
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    for (const ValueRef& r : plan.steps[i].inputs)
      if (r.depth == 0 && r.id >= 0) last[static_cast<size_t>(r.id)] = static_cast<int>(i);
    for (int id : implicit[i]) last[static_cast<size_t>(id)] = static_cast<int>(i);
  }
  for (size_t id = 0; id < nv; ++id)
    if (last[id] >= 0 && !plan.keep[id] && !g.values[id]->is_constant())
      plan.steps[static_cast<size_t>(last[id])].release.push_back(static_cast<int>(id));
  plan.constants.assign(nv, Tensor());
  for (auto& v : g.values)
    if (v->is_constant()) plan.constants[static_cast<size_t>(v->id)] = v->constant;
  return Status::ok();
}

int64_t released_constant_bytes(const ir::Graph& g) {
  int64_t bytes = 0;
  for (auto& v : g.values)
    if (v->is_constant() && !v->constant.raw()) bytes += static_cast<int64_t>(v->constant.nbytes());
  return bytes;
}

Status run_steps(Frame& frame, ThreadPool* pool, StepAllocator& alloc, uint64_t max_tensor_bytes) {
  std::vector<const Tensor*> ins;
  std::vector<Tensor> outs;
  for (const PlanStep& s : frame.plan->steps) {
    ins.clear();
    for (const ValueRef& r : s.inputs) {
      if (r.depth == 0) {
        const Tensor* t = r.id >= 0 ? &frame.slots[static_cast<size_t>(r.id)] : nullptr;
        ins.push_back(t && t->defined() ? t : nullptr);
      } else {
        ins.push_back(frame.resolve(r));
      }
    }
    alloc.step = &s;
    Status st;
    StepProfile* prof = StepProfile::get();
    const double t0 = prof ? prof->now_ms() : 0.0;
    if (s.bodies.empty()) {
      st = execute_node(*s.op, *s.kernel, s.state.get(), *s.node, ins, outs, pool, alloc);
    } else {
      BodyRunner runner(&s, &frame, pool, max_tensor_bytes);
      st = execute_node(*s.op, *s.kernel, s.state.get(), *s.node, ins, outs, pool, alloc, &runner);
    }
    if (prof) {
      const double ms = prof->now_ms() - t0;
      std::string key = std::string(s.kernel->name) + " " + s.node->label();
      if (!outs.empty()) {
        key += " [";
        for (int64_t d : outs[0].shape()) key += std::to_string(d) + ",";
        key += "]";
      }
      static std::once_flag once;
      std::call_once(once, [] { std::atexit(StepProfile::dump); });
      std::lock_guard<std::mutex> lock(prof->mu);
      prof->ms_calls[key].push_back(ms);
    }
    if (!st.is_ok()) return st;
    for (size_t i = 0; i < s.outputs.size(); ++i)
      if (s.outputs[i] >= 0) frame.slots[static_cast<size_t>(s.outputs[i])] = std::move(outs[i]);
    for (int id : s.release) frame.slots[static_cast<size_t>(id)] = Tensor();
  }
  return Status::ok();
}

}  // namespace joule
