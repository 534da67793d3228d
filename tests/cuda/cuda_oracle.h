// Test harness for CUDA kernels: runs one node through the CPU reference kernel and through the CUDA
// kernel the registry selects (inputs uploaded, outputs poisoned with 0xFF bytes -- NaN for floats --
// before the run so unwritten elements show up) and compares: integers bit-exact, floats within
// atol + rtol * max|reference|. Only meaningful in JOULE_WITH_CUDA builds with a device; callers skip otherwise.
#pragma once

#ifdef JOULE_WITH_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_context.h"
#include "kernels/kernel_registry.h"
#include "runtime/ir/graph.h"
#include "runtime/node_executor.h"
#include "runtime/ops/op_registry.h"

namespace joule::cuda_test {

/// Skips the running test when no CUDA device can be used, printing why.
#define JOULE_SKIP_WITHOUT_CUDA_DEVICE()                                            \
  do {                                                                             \
    ::joule::Status cuda_st_ = ::joule::kernels::cuda::device_status();            \
    if (!cuda_st_.is_ok()) GTEST_SKIP() << cuda_st_.message();                     \
  } while (0)

struct CudaCase {
  std::string what;
  std::shared_ptr<ir::Graph> graph = std::make_shared<ir::Graph>();
  ir::Node* node = nullptr;
  std::vector<Tensor> inputs;  // undefined = omitted optional input
  std::vector<bool> constant;  // handed to prepare as constants (weights)
  double rtol = 1e-5, atol = 1e-6;
  std::function<void(Tensor&)> post_ref;  // applied to the reference output (fused activations)
  std::string kernel_prefix;              // the CUDA kernel expected to take the case
};

inline CudaCase make_case(const std::string& op, std::vector<Tensor> inputs, std::vector<bool> constant, const std::string& what,
                          int opset = 17, const std::string& domain = "", size_t num_outputs = 1) {
  CudaCase c;
  c.what = op + " " + what;
  c.inputs = std::move(inputs);
  c.constant = std::move(constant);
  c.constant.resize(c.inputs.size(), false);
  std::vector<ir::Value*> ins, outs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (!c.inputs[i].defined()) {
      ins.push_back(nullptr);
      continue;
    }
    ir::Value* v = c.graph->add_value("in" + std::to_string(i));
    v->desc = ir::TensorDesc::known(c.inputs[i].dtype(), c.inputs[i].shape());
    if (c.constant[i]) v->constant = c.inputs[i];
    ins.push_back(v);
  }
  for (size_t i = 0; i < num_outputs; ++i) outs.push_back(c.graph->add_value("out" + std::to_string(i)));
  c.node = c.graph->add_node(op, ins, outs, "cuda_" + op, domain);
  c.node->opset = opset;
  return c;
}

/// Uniform random tensor: floats in [lo, hi) (f16 rounded), integers in [lo, hi].
inline Tensor random_tensor(DType dt, const Shape& s, std::mt19937& rng, double lo = -1.0, double hi = 1.0) {
  Tensor t(dt, s);
  const int64_t n = t.numel();
  if (dt == DType::kF32 || dt == DType::kF16) {
    std::uniform_real_distribution<float> d(static_cast<float>(lo), static_cast<float>(hi));
    for (int64_t i = 0; i < n; ++i) {
      if (dt == DType::kF32) t.data<float>()[i] = d(rng);
      else t.data<Half>()[i] = Half(d(rng));
    }
    return t;
  }
  std::uniform_int_distribution<int64_t> d(static_cast<int64_t>(lo), static_cast<int64_t>(hi));
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = d(rng);
    switch (dt) {
      case DType::kU8: t.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
      case DType::kI8: t.data<int8_t>()[i] = static_cast<int8_t>(v); break;
      case DType::kI32: t.data<int32_t>()[i] = static_cast<int32_t>(v); break;
      case DType::kI64: t.data<int64_t>()[i] = v; break;
      default: ADD_FAILURE() << "random_tensor: unsupported dtype"; break;
    }
  }
  return t;
}

inline double float_value(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kF16 ? static_cast<double>(static_cast<float>(t.data<Half>()[i])) : t.value_as_double(i);
}

/// Compares got with ref; returns the number of mismatches (the first few are reported).
inline int compare_outputs(const Tensor& ref, const Tensor& got, double rtol, double atol, const std::string& what) {
  EXPECT_EQ(ref.dtype(), got.dtype()) << what;
  EXPECT_EQ(ref.shape(), got.shape()) << what;
  if (ref.dtype() != got.dtype() || ref.shape() != got.shape()) return 1;
  const bool is_float = ref.dtype() == DType::kF32 || ref.dtype() == DType::kF16 || ref.dtype() == DType::kF64;
  int bad = 0;
  if (!is_float) {
    for (int64_t i = 0; i < ref.numel(); ++i)
      if (ref.value_as_int(i) != got.value_as_int(i) && ++bad <= 5)
        ADD_FAILURE() << what << ": element " << i << " is " << got.value_as_int(i) << ", reference " << ref.value_as_int(i);
    return bad;
  }
  double max_abs = 0;
  for (int64_t i = 0; i < ref.numel(); ++i)
    if (std::isfinite(float_value(ref, i))) max_abs = std::max(max_abs, std::fabs(float_value(ref, i)));
  const double bound = atol + rtol * max_abs;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double r = float_value(ref, i), g = float_value(got, i);
    const bool ok = std::isnan(r) ? std::isnan(g) : (std::isinf(r) ? r == g : std::fabs(r - g) <= bound);
    if (!ok && ++bad <= 5)
      ADD_FAILURE() << what << ": element " << i << " is " << g << ", reference " << r << " (bound " << bound << ")";
  }
  return bad;
}

/// The query the registry sees for the case.
inline kernels::KernelQuery query_of(const CudaCase& c) {
  kernels::KernelQuery q{*c.node, {}, {}};
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    q.inputs.push_back(c.inputs[i].defined() ? ir::TensorDesc::known(c.inputs[i].dtype(), c.inputs[i].shape()) : ir::TensorDesc{});
    q.constant_inputs.push_back(c.inputs[i].defined() && c.constant[i] ? &c.inputs[i] : nullptr);
  }
  return q;
}

/// Runs the reference kernel on the host (no device needed); fails the test on error.
inline void run_reference(const CudaCase& c, std::vector<Tensor>& expected) {
  const ops::OpDef* op = ops::OpRegistry::builtin().find(c.node->domain, c.node->op_type);
  ASSERT_NE(op, nullptr) << c.what;
  const kernels::KernelDef* ref = kernels::KernelRegistry::builtin().reference(c.node->domain, c.node->op_type);
  ASSERT_NE(ref, nullptr) << c.what << ": no reference kernel";
  kernels::KernelQuery q = query_of(c);
  std::shared_ptr<const void> ref_state;
  if (ref->prepare) ASSERT_TRUE(ref->prepare(q, ref_state).is_ok()) << c.what;
  std::vector<const Tensor*> host_in;
  for (const Tensor& t : c.inputs) host_in.push_back(t.defined() ? &t : nullptr);
  HeapAllocator heap(uint64_t{1} << 32);
  Status st = execute_node(*op, *ref, ref_state.get(), *c.node, host_in, expected, nullptr, heap);
  ASSERT_TRUE(st.is_ok()) << c.what << ": reference failed: " << st.message();
  if (c.post_ref) c.post_ref(expected[0]);
}

/// The CUDA kernel the registry picks for the case (a registry query: no device needed); checks its name.
inline const kernels::KernelDef* select_cuda(const CudaCase& c) {
  const kernels::KernelDef* k = kernels::KernelRegistry::builtin().select(query_of(c), kernels::Device::kCuda, Isa::kScalar);
  EXPECT_NE(k, nullptr) << c.what << ": no CUDA kernel accepts this case";
  if (k && !c.kernel_prefix.empty()) EXPECT_EQ(k->name.rfind(c.kernel_prefix, 0), 0u) << c.what << ": picked " << k->name;
  return k;
}

/// Runs the case on the reference kernel and on the selected CUDA kernel and compares every output.
inline void run_case(CudaCase& c, kernels::cuda::CudaContext& ctx) {
  SCOPED_TRACE(c.what);
  std::vector<Tensor> expected;
  ASSERT_NO_FATAL_FAILURE(run_reference(c, expected));
  const kernels::KernelDef* k = select_cuda(c);
  ASSERT_NE(k, nullptr);
  kernels::KernelQuery q = query_of(c);
  Status st;
  std::shared_ptr<const void> state;
  if (k->prepare) ASSERT_TRUE((st = k->prepare(q, state)).is_ok()) << c.what << ": " << st.message();
  std::vector<Tensor> dev_in(c.inputs.size()), dev_out(expected.size());
  std::vector<const Tensor*> ins;
  std::vector<Tensor*> outs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.inputs[i].defined()) ASSERT_TRUE(kernels::cuda::upload(c.inputs[i], dev_in[i]).is_ok());
    ins.push_back(c.inputs[i].defined() ? &dev_in[i] : nullptr);
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_TRUE(kernels::cuda::device_tensor(expected[i].dtype(), expected[i].shape(), dev_out[i]).is_ok());
    ASSERT_TRUE(kernels::cuda::fill_device_bytes(dev_out[i].raw(), 0xFF, dev_out[i].nbytes(), nullptr).is_ok());
    outs.push_back(&dev_out[i]);
  }
  kernels::KernelContext kc{*c.node, ins, outs, nullptr, state.get(), nullptr};
  kc.device = &ctx;
  st = k->run(kc);
  ASSERT_TRUE(st.is_ok()) << c.what << " (" << k->name << "): " << st.message();
  ASSERT_TRUE((st = ctx.synchronize()).is_ok()) << c.what << " (" << k->name << "): " << st.message();
  for (size_t i = 0; i < expected.size(); ++i) {
    Tensor got;
    ASSERT_TRUE(kernels::cuda::download(dev_out[i], got).is_ok());
    compare_outputs(expected[i], got, c.rtol, c.atol, c.what + " (" + k->name + ") output " + std::to_string(i));
  }
}

/// Device-free check of a case list: every case has a reference result and a CUDA kernel that takes it.
inline void check_cases_without_device(std::vector<CudaCase> cases) {
  for (CudaCase& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<Tensor> expected;
    ASSERT_NO_FATAL_FAILURE(run_reference(c, expected));
    select_cuda(c);
  }
}

/// Runs every case on the device (the caller has skipped when there is none).
inline void run_cases(std::vector<CudaCase> cases, kernels::cuda::CudaContext& ctx) {
  for (CudaCase& c : cases) ASSERT_NO_FATAL_FAILURE(run_case(c, ctx));
}

/// The context the tests share (created on first use; null with the reason when there is no device).
inline kernels::cuda::CudaContext* shared_context(std::string& why) {
  static std::unique_ptr<kernels::cuda::CudaContext> ctx;
  static Status st = kernels::cuda::CudaContext::create(ctx);
  why = st.message();
  return ctx.get();
}

}  // namespace joule::cuda_test

#endif  // JOULE_WITH_CUDA
