// Oracle harness: every optimized CPU kernel in the registry against the reference kernel of its op,
// on seeded random data with odd shapes (1, 3, 17, 255, 1023), for each ISA this CPU can run
// (JOULE_ISA=scalar|avx2|avx512 lowers the level; kernels above it are skipped with a message).
// Floats must agree within a relative bound, integers bit-exactly; results with 1 and 3 threads
// must be bitwise identical; each kernel's accepts() is checked on accepted and rejected cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "joule/session.h"
#include "kernels/kernel_registry.h"
#include "runtime/cpu_features.h"
#include "runtime/ir/graph.h"
#include "runtime/thread_pool.h"

using namespace joule;
using namespace joule::kernels;

namespace {

// One node with its inputs; `constant[i]` marks inputs handed to prepare as constants (weights).
struct OracleCase {
  std::string what;
  std::shared_ptr<ir::Graph> graph = std::make_shared<ir::Graph>();
  ir::Node* node = nullptr;
  std::vector<Tensor> inputs;  // undefined = omitted optional input
  std::vector<bool> constant;
  Shape out_shape;
  DType out_dtype = DType::kF32;
  bool expect_accept = true;
  bool input0_unknown_at_load = false;
  // When set, overrides expect_accept per kernel (cases some kernels of the op take and others refuse).
  std::function<bool(const std::string& kernel)> accepted_by;  // input 0's desc is not inferred when the kernel is chosen
  std::function<void(Tensor&)> post_ref;  // applied to the reference output (fused activations)
};

Tensor random_tensor(DType dt, const Shape& s, std::mt19937& rng) {
  Tensor t(dt, s);
  if (dt == DType::kF32) {
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  } else if (dt == DType::kF64) {
    std::uniform_real_distribution<double> d(-1.0, 1.0);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = d(rng);
  } else if (dt == DType::kI32) {
    std::uniform_int_distribution<int32_t> d(-50, 50);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<int32_t>()[i] = d(rng);
  }
  return t;
}

void set_attr(ir::Node* n, const std::string& name, int64_t v) {
  ir::Attribute a = ir::Attribute::of_int(v);
  n->attrs[name] = a;
}
void set_attr(ir::Node* n, const std::string& name, float v) {
  ir::Attribute a = ir::Attribute::of_float(v);
  n->attrs[name] = a;
}
void set_attr(ir::Node* n, const std::string& name, const std::string& v) {
  ir::Attribute a = ir::Attribute::of_string(v);
  n->attrs[name] = a;
}

OracleCase make_case(const std::string& op, std::vector<Tensor> inputs, std::vector<bool> constant, Shape out,
                     const std::string& what) {
  OracleCase c;
  c.what = what;
  c.inputs = std::move(inputs);
  c.constant = std::move(constant);
  c.constant.resize(c.inputs.size(), false);
  c.out_shape = std::move(out);
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < c.inputs.size(); ++i) ins.push_back(c.inputs[i].defined() ? c.graph->add_value("in" + std::to_string(i)) : nullptr);
  c.node = c.graph->add_node(op, ins, {c.graph->add_value("out")}, "oracle_" + op);
  c.node->opset = 17;
  return c;
}

void set_attr(ir::Node* n, const std::string& name, std::vector<int64_t> v) {
  ir::Attribute a = ir::Attribute::of_ints(std::move(v));
  n->attrs[name] = a;
}

void relu_inplace(Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::max(t.data<float>()[i], 0.0f);
}

// ---- cases per op ------------------------------------------------------------------------------

std::vector<OracleCase> matmul_cases() {
  std::mt19937 rng(1234);
  std::vector<OracleCase> cs;
  auto f32 = [&](Shape s) { return random_tensor(DType::kF32, s, rng); };
  const int64_t mkn[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 255, 33}, {1, 1023, 255}, {255, 3, 17}, {13, 300, 1023}, {6, 16, 16}, {12, 512, 64}};
  for (auto& d : mkn)
    for (bool cst : {false, true}) {
      std::string w = "[" + std::to_string(d[0]) + "," + std::to_string(d[1]) + "]x[" + std::to_string(d[1]) + "," +
                      std::to_string(d[2]) + "]" + (cst ? " const B" : "");
      cs.push_back(make_case("MatMul", {f32({d[0], d[1]}), f32({d[1], d[2]})}, {false, cst}, {d[0], d[2]}, w));
    }
  cs.push_back(make_case("MatMul", {f32({2, 3, 17, 19}), f32({3, 19, 5})}, {}, {2, 3, 17, 5}, "batched broadcast"));
  cs.push_back(make_case("MatMul", {f32({4, 7, 13}), f32({13, 9})}, {false, true}, {4, 7, 9}, "batch folded into M, const B"));
  cs.push_back(make_case("MatMul", {f32({1, 3}), f32({5, 3, 17})}, {}, {5, 1, 17}, "A broadcast over B batch"));
  cs.push_back(make_case("MatMul", {f32({17}), f32({17, 3})}, {}, {3}, "1-D A"));
  cs.push_back(make_case("MatMul", {f32({2, 5, 17}), f32({17})}, {}, {2, 5}, "1-D B"));
  {
    OracleCase c = make_case("MatMul", {f32({17, 33}), f32({33, 20})}, {false, true}, {17, 20}, "fused Relu");
    set_attr(c.node, "joule.activation", std::string("Relu"));
    c.post_ref = relu_inplace;
    cs.push_back(std::move(c));
  }
  {
    OracleCase c = make_case("MatMul", {f32({3, 3}), f32({3, 3})}, {}, {3, 3}, "unknown fused activation");
    set_attr(c.node, "joule.activation", std::string("Swish"));
    c.expect_accept = false;
    cs.push_back(std::move(c));
  }
  OracleCase ci = make_case("MatMul", {random_tensor(DType::kI32, {3, 5}, rng), random_tensor(DType::kI32, {5, 2}, rng)}, {}, {3, 2}, "int32");
  ci.out_dtype = DType::kI32;
  ci.expect_accept = false;
  cs.push_back(std::move(ci));
  return cs;
}

std::vector<OracleCase> gemm_cases() {
  std::mt19937 rng(99);
  std::vector<OracleCase> cs;
  auto f32 = [&](Shape s) { return random_tensor(DType::kF32, s, rng); };
  const int64_t m = 17, k = 255, n = 33;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (int cmode = 0; cmode < 4; ++cmode) {  // no C, C[n], C[m,1], C[m,n]
        std::vector<Tensor> in = {f32(ta ? Shape{k, m} : Shape{m, k}), f32(tb ? Shape{n, k} : Shape{k, n})};
        const Shape cshape[] = {{}, {n}, {m, 1}, {m, n}};
        if (cmode) in.push_back(f32(cshape[cmode]));
        bool cst = (ta + tb + cmode) % 2 == 0;
        OracleCase c = make_case("Gemm", in, {false, cst, cst}, {m, n},
                                 "transA=" + std::to_string(ta) + " transB=" + std::to_string(tb) + " C mode " + std::to_string(cmode));
        set_attr(c.node, "transA", int64_t{ta});
        set_attr(c.node, "transB", int64_t{tb});
        if (cmode == 3) {
          set_attr(c.node, "alpha", 0.75f);
          set_attr(c.node, "beta", -1.5f);
        }
        cs.push_back(std::move(c));
      }
  cs.push_back(make_case("Gemm", {f32({1, 1023}), f32({1023, 255}), f32({255})}, {false, true, true}, {1, 255}, "M=1 classifier"));
  cs.push_back(make_case("Gemm", {f32({255, 1}), f32({1, 3})}, {}, {255, 3}, "K=1"));
  {
    OracleCase c = make_case("Gemm", {f32({3, 17}), f32({5, 17}), f32({5})}, {false, true, true}, {3, 5}, "A's dtype unknown at load");
    set_attr(c.node, "transB", int64_t{1});
    c.input0_unknown_at_load = true;
    cs.push_back(std::move(c));
  }
  {
    OracleCase c = make_case("Gemm", {f32({3, 17}), f32({5, 17}), f32({5})}, {false, true, true}, {3, 5}, "fused Clip");
    set_attr(c.node, "transB", int64_t{1});
    set_attr(c.node, "joule.activation", std::string("Clip"));
    set_attr(c.node, "joule.clip_min", 0.0f);
    set_attr(c.node, "joule.clip_max", 0.5f);
    c.post_ref = [](Tensor& t) {
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::min(std::max(t.data<float>()[i], 0.0f), 0.5f);
    };
    cs.push_back(std::move(c));
  }
  OracleCase cd = make_case("Gemm", {random_tensor(DType::kF64, {3, 5}, rng), random_tensor(DType::kF64, {5, 2}, rng)}, {}, {3, 2}, "double");
  cd.out_dtype = DType::kF64;
  cd.expect_accept = false;
  cs.push_back(std::move(cd));
  return cs;
}


// Conv output spatial size for one dim.
int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) { return (in + pb + pe - d * (k - 1) - 1) / s + 1; }

std::vector<OracleCase> conv_cases() {
  std::mt19937 rng(7);
  std::vector<OracleCase> cs;
  auto f32 = [&](Shape s) { return random_tensor(DType::kF32, s, rng); };
  struct P { int64_t n, c, h, w, m, k, s, d, p, group; bool bias; };
  const P ps[] = {
      {1, 3, 17, 17, 16, 3, 1, 1, 1, 1, true},    // 3x3 same
      {2, 17, 9, 11, 33, 1, 1, 1, 0, 1, true},    // 1x1 pointwise, batch 2
      {1, 16, 15, 15, 24, 1, 2, 1, 0, 1, false},  // 1x1 stride 2
      {1, 3, 31, 29, 8, 7, 2, 1, 3, 1, true},     // 7x7 stride 2 stem
      {1, 8, 13, 13, 12, 3, 1, 2, 2, 4, true},    // grouped, dilated
      {1, 1, 1, 1, 1, 1, 1, 1, 0, 1, false},      // all ones
      {1, 255, 5, 3, 17, 3, 2, 1, 1, 1, true},    // many channels, strided (pixels x channels GEMM)
      {1, 32, 2, 2, 40, 3, 1, 1, 1, 1, true},     // late-stage 2x2 plane: pixels x channels, prepacked W^T
      {2, 33, 2, 2, 50, 1, 1, 1, 0, 1, false},    // pointwise on 2x2, batch 2: pixels x channels, W^T per run
      {1, 34, 2, 3, 68, 3, 1, 1, 1, 2, true},     // grouped on a small plane: pixels x channels
      {1, 17, 16, 19, 24, 1, 2, 1, 0, 1, true},   // 1x1 stride 2 through the packed im2col
      {1, 64, 12, 13, 20, 3, 1, 1, 1, 1, true},   // narrow output rows (OW 13 < 16): im2col + packing pass
      {1, 130, 37, 33, 7, 3, 2, 1, 1, 1, false},  // stride 2, OW 17: column phases, im2col straight into panels
      {1, 5, 1, 113, 16, 3, 1, 1, 1, 1, true},    // pixels x channels with 113 pixels: two M blocks of packed col^T
  };
  auto is_dw = [](const std::string& k) { return k.rfind("dwconv", 0) == 0; };
  auto is_pw = [](const std::string& k) { return k.rfind("conv1x1", 0) == 0; };  // 2-D 1x1 / stride 1 / no pads only
  for (const P& p : ps) {
    const int64_t oh = conv_out(p.h, p.k, p.s, p.d, p.p, p.p), ow = conv_out(p.w, p.k, p.s, p.d, p.p, p.p);
    std::vector<Tensor> in = {f32({p.n, p.c, p.h, p.w}), f32({p.m, p.c / p.group, p.k, p.k})};
    if (p.bias) in.push_back(f32({p.m}));
    const bool const_w = (&p - ps) % 2 == 0;  // prepacked weights, and weights packed per run
    OracleCase c = make_case("Conv", in, {false, const_w, true}, {p.n, p.m, oh, ow},
                             "x[" + std::to_string(p.n) + "," + std::to_string(p.c) + "," + std::to_string(p.h) + "," + std::to_string(p.w) +
                                 "] k" + std::to_string(p.k) + " s" + std::to_string(p.s) + " d" + std::to_string(p.d) + " g" + std::to_string(p.group));
    set_attr(c.node, "strides", std::vector<int64_t>{p.s, p.s});
    set_attr(c.node, "dilations", std::vector<int64_t>{p.d, p.d});
    set_attr(c.node, "pads", std::vector<int64_t>{p.p, p.p, p.p, p.p});
    set_attr(c.node, "group", p.group);
    const bool pointwise = p.k == 1 && p.s == 1 && p.p == 0 && p.group == 1;
    c.accepted_by = [is_dw, is_pw, pointwise](const std::string& k) { return !is_dw(k) && (pointwise || !is_pw(k)); };
    cs.push_back(std::move(c));
  }
  {  // small plane with the input shape unknown at load: W^T packed lazily on the first run
    OracleCase c = make_case("Conv", {f32({1, 48, 2, 2}), f32({64, 48, 3, 3}), f32({64})}, {false, true, true}, {1, 64, 2, 2},
                             "2x2 plane, input shape unknown at load");
    set_attr(c.node, "pads", std::vector<int64_t>{1, 1, 1, 1});
    c.input0_unknown_at_load = true;
    c.accepted_by = [is_dw, is_pw](const std::string& k) { return !is_dw(k) && !is_pw(k); };
    cs.push_back(std::move(c));
  }
  {  // 1-D conv, fused Relu
    OracleCase c = make_case("Conv", {f32({1, 5, 23}), f32({7, 5, 3}), f32({7})}, {false, true, true}, {1, 7, 21}, "1-D, fused Relu");
    set_attr(c.node, "joule.activation", std::string("Relu"));
    c.post_ref = relu_inplace;
    c.accepted_by = [is_dw, is_pw](const std::string& k) { return !is_dw(k) && !is_pw(k); };
    cs.push_back(std::move(c));
  }
  // Depthwise: the GEMM conv refuses it, dwconv_* takes any 2-D geometry (8-channel-lane path, and the
  // wide-plane path for 3x3/5x5 stride 1 with OW >= 32).
  struct D { int64_t n, c, h, w, k, s, p, d; bool bias; const char* act; };
  const D ds[] = {
      {1, 17, 17, 17, 3, 1, 1, 1, true, "Clip"},  // MobileNet Relu6 block
      {2, 3, 9, 31, 5, 2, 2, 1, true, ""},
      {1, 8, 1, 1, 3, 1, 1, 1, false, "Relu"},
      {1, 4, 5, 5, 3, 1, 0, 1, true, ""},
      {1, 5, 255, 3, 3, 2, 1, 1, true, ""},
      {1, 4, 7, 7, 3, 1, 2, 2, false, ""},     // dilated
      {2, 17, 4, 4, 3, 1, 1, 1, true, "Relu"},  // late MobileNet plane (OW 4), channel tail of 1
      {1, 255, 3, 3, 5, 2, 2, 1, true, ""},     // OW 2, 5x5 stride 2, channel tail of 7
      {1, 3, 35, 37, 3, 1, 1, 1, true, "Clip"}, // wide plane path (OW 37)
      {1, 9, 33, 40, 5, 1, 2, 1, false, ""},    // wide plane 5x5
      {1, 16, 11, 10, 7, 3, 3, 1, true, ""},    // 7x7 stride 3
  };
  for (const D& q : ds) {
    const int64_t oh = conv_out(q.h, q.k, q.s, q.d, q.p, q.p), ow = conv_out(q.w, q.k, q.s, q.d, q.p, q.p);
    std::vector<Tensor> in = {f32({q.n, q.c, q.h, q.w}), f32({q.c, 1, q.k, q.k})};
    if (q.bias) in.push_back(f32({q.c}));
    OracleCase c = make_case("Conv", in, {false, true, true}, {q.n, q.c, oh, ow},
                             "depthwise x[" + std::to_string(q.n) + "," + std::to_string(q.c) + "," + std::to_string(q.h) + "," +
                                 std::to_string(q.w) + "] k" + std::to_string(q.k) + " s" + std::to_string(q.s) + " d" + std::to_string(q.d) +
                                 " " + q.act);
    set_attr(c.node, "group", q.c);
    set_attr(c.node, "strides", std::vector<int64_t>{q.s, q.s});
    set_attr(c.node, "dilations", std::vector<int64_t>{q.d, q.d});
    set_attr(c.node, "pads", std::vector<int64_t>{q.p, q.p, q.p, q.p});
    if (std::string(q.act) == "Relu") {
      set_attr(c.node, "joule.activation", std::string("Relu"));
      c.post_ref = relu_inplace;
    } else if (std::string(q.act) == "Clip") {
      set_attr(c.node, "joule.activation", std::string("Clip"));
      set_attr(c.node, "joule.clip_min", 0.0f);
      set_attr(c.node, "joule.clip_max", 0.25f);
      c.post_ref = [](Tensor& t) {
        for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::min(std::max(t.data<float>()[i], 0.0f), 0.25f);
      };
    }
    c.accepted_by = [is_dw](const std::string& k) { return is_dw(k); };
    cs.push_back(std::move(c));
  }
  {
    OracleCase c = make_case("Conv", {f32({1, 2, 3, 3, 3}), f32({1, 2, 1, 1, 1})}, {false, true}, {1, 1, 3, 3, 3}, "3-D");
    c.expect_accept = false;
    cs.push_back(std::move(c));
  }
  return cs;
}

// joule.MatMulBias (runtime/passes/matmul_bias_fusion.cpp): A[..., K] x B[K, N] + bias[N].
std::vector<OracleCase> matmul_bias_cases() {
  std::mt19937 rng(4321);
  std::vector<OracleCase> cs;
  auto f32 = [&](Shape s) { return random_tensor(DType::kF32, s, rng); };
  const int64_t dims[][4] = {{1, 1, 1, 1}, {1, 3, 17, 5}, {2, 17, 255, 33}, {1, 1, 1023, 255}, {3, 255, 3, 17}};
  for (auto& d : dims)
    for (bool cst : {false, true}) {
      Shape a = d[0] == 1 ? Shape{d[1], d[2]} : Shape{d[0], d[1], d[2]};
      Shape y = a;
      y.back() = d[3];
      OracleCase c = make_case("MatMulBias", {f32(a), f32({d[2], d[3]}), f32({d[3]})}, {false, cst, cst}, y,
                               shape_to_string(a) + " x [" + std::to_string(d[2]) + "," + std::to_string(d[3]) + "] + bias" +
                                   (cst ? " const B" : ""));
      c.node->domain = "joule";
      cs.push_back(std::move(c));
    }
  OracleCase r = make_case("MatMulBias", {f32({2, 7, 33}), f32({33, 20}), f32({20})}, {false, true, true}, {2, 7, 20}, "fused Relu");
  r.node->domain = "joule";
  set_attr(r.node, "joule.activation", std::string("Relu"));
  r.post_ref = relu_inplace;
  cs.push_back(std::move(r));
  return cs;
}

const std::map<std::string, std::function<std::vector<OracleCase>()>>& case_makers() {
  static const std::map<std::string, std::function<std::vector<OracleCase>()>> m = {
      {"MatMul", matmul_cases},
      {"MatMulBias", matmul_bias_cases},
      {"Gemm", gemm_cases},
      {"Conv", conv_cases},
  };
  return m;
}

// ---- running and comparing ---------------------------------------------------------------------

KernelQuery query_of(const OracleCase& c) {
  KernelQuery q{*c.node, {}, {}};
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor& t = c.inputs[i];
    const bool unknown = !t.defined() || (i == 0 && c.input0_unknown_at_load);
    q.inputs.push_back(unknown ? ir::TensorDesc{} : ir::TensorDesc::known(t.dtype(), t.shape()));
    q.constant_inputs.push_back(t.defined() && c.constant[i] ? &t : nullptr);
  }
  return q;
}

Status run_kernel(const KernelDef& k, const OracleCase& c, ThreadPool* pool, Tensor& out) {
  KernelQuery q = query_of(c);
  std::shared_ptr<const void> state;
  if (k.prepare) JOULE_RETURN_IF_ERROR(k.prepare(q, state));
  out = Tensor(c.out_dtype, c.out_shape);
  // A kernel that says it overwrites its outputs gets them full of NaN (0xff bytes), as the session skips
  // zeroing them: an element it leaves alone shows up as an error.
  if (k.overwrites_outputs && out.nbytes()) std::memset(out.raw(), 0xff, out.nbytes());
  KernelContext ctx{*c.node, {}, {&out}, pool, state.get()};
  for (const Tensor& t : c.inputs) ctx.inputs.push_back(t.defined() ? &t : nullptr);
  return k.run(ctx);
}

// Max over elements of |fast - ref| / (|ref| + mean|ref|): relative, robust to cancellation near 0.
double float_error(const Tensor& fast, const Tensor& ref) {
  double mean = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) mean += std::fabs(ref.data<float>()[i]);
  mean = mean / std::max<int64_t>(1, ref.numel()) + 1e-30;
  double worst = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    double r = ref.data<float>()[i], f = fast.data<float>()[i];
    if (std::isnan(f) != std::isnan(r)) return INFINITY;
    worst = std::max(worst, std::fabs(f - r) / (std::fabs(r) + mean));
  }
  return worst;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

}  // namespace

TEST(Oracle, EveryFastCpuKernelMatchesReference) {
  const Isa cpu_isa = max_isa();
  ThreadPool pool1(1), pool3(3);
  int checked = 0;
  for (const KernelDef* k : KernelRegistry::builtin().all()) {
    if (k->device != Device::kCpu || (k->isa == Isa::kScalar && k->priority == 0)) continue;
    if (k->isa > cpu_isa) {
      std::printf("[ oracle ] SKIP %s: needs %s, this CPU (or JOULE_ISA) allows %s\n", k->name.c_str(),
                  std::string(isa_name(k->isa)).c_str(), std::string(isa_name(cpu_isa)).c_str());
      continue;
    }
    const KernelDef* ref = KernelRegistry::builtin().reference(k->domain, k->op_type);
    ASSERT_NE(ref, nullptr) << k->name;
    // Kernels whose op has a dedicated fast-vs-reference test of its own (many attributes, stateful).
    static const std::map<std::string, std::string> kCoveredElsewhere = {
        {"LSTM", "tests/rnn/rnn_kernels_test.cpp"}, {"GRU", "tests/rnn/rnn_kernels_test.cpp"},
        {"RNN", "tests/rnn/rnn_kernels_test.cpp"}, {"MatMulNBits", "tests/quant/int4_kernels_test.cpp"},
        {"QuantizeLinear", "tests/quant/qdq_fusion_test.cpp"}, {"DequantizeLinear", "tests/quant/qdq_fusion_test.cpp"},
        {"QConv", "tests/quant/qdq_fusion_test.cpp"}, {"QGemm", "tests/quant/qdq_fusion_test.cpp"},
        {"DynQMatMul", "tests/quant/qdq_fusion_test.cpp"}, {"QAdd", "tests/quant/qdq_fusion_test.cpp"},
        {"StridedMatMul", "tests/kernels/strided_matmul_test.cpp"}};
    if (k->name.rfind("conv_f32_winograd", 0) == 0) {  // own error bound (Winograd's transforms), own shapes
      std::printf("[ oracle ] %s is checked against the reference by tests/kernels/conv_winograd_test.cpp\n", k->name.c_str());
      continue;
    }
    if (auto it = kCoveredElsewhere.find(k->op_type); it != kCoveredElsewhere.end()) {
      std::printf("[ oracle ] %s is checked against the reference by %s\n", k->name.c_str(), it->second.c_str());
      continue;
    }
    // Elementwise / activation / normalization / pooling / Transpose kernels (kernels/cpu/elementwise_f32*.cpp,
    // softmax_layer_norm_f32.cpp, transpose_blocked.cpp) have their own cases, broadcasting included.
    static const std::set<std::string> kElementwiseOps = {
        "Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Erf", "Gelu", "FastGelu",
        "HardSwish", "HardSigmoid", "Clip", "Exp", "Sqrt", "Neg", "Softmax", "LayerNormalization", "GlobalAveragePool", "Transpose", "MaxPool",
        "AveragePool"};
    if (kElementwiseOps.count(k->op_type) && (k->name.find("_f32__avx") != std::string::npos || k->name == "transpose_blocked")) {
      std::printf("[ oracle ] %s is checked against the reference by tests/kernels/elementwise_f32_simd_test.cpp\n", k->name.c_str());
      continue;
    }
    auto maker = case_makers().find(k->op_type);
    if (maker == case_makers().end()) {
      // SIMD kernels must have cases here; a portable (scalar-ISA) fast kernel may be checked by its own tests.
      EXPECT_EQ(k->isa, Isa::kScalar) << k->name << ": SIMD kernel without oracle cases (add them here)";
      std::printf("[ oracle ] NOT COVERED %s: no oracle cases for %s here\n", k->name.c_str(), k->op_type.c_str());
      continue;
    }
    int accepted = 0, rejected = 0;
    double worst = 0;
    for (OracleCase& c : maker->second()) {
      SCOPED_TRACE(k->name + ": " + c.what);
      bool acc = !k->accepts || k->accepts(query_of(c));
      EXPECT_EQ(acc, c.accepted_by ? c.accepted_by(k->name) : c.expect_accept);
      if (!acc) {
        ++rejected;
        continue;
      }
      ++accepted;
      Tensor want, got1, got3;
      ASSERT_TRUE(run_kernel(*ref, c, nullptr, want).is_ok());  // reference ignores joule.* attributes
      if (c.post_ref) c.post_ref(want);
      Status s1 = run_kernel(*k, c, &pool1, got1);
      ASSERT_TRUE(s1.is_ok()) << s1.message();
      ASSERT_TRUE(run_kernel(*k, c, &pool3, got3).is_ok());
      EXPECT_TRUE(bitwise_equal(got1, got3)) << "1 and 3 threads differ";
      if (want.dtype() == DType::kF32) {
        double e = float_error(got1, want);
        worst = std::max(worst, e);
        EXPECT_LE(e, 2e-5);
      } else {
        EXPECT_TRUE(bitwise_equal(got1, want));
      }
    }
    std::printf("[ oracle ] %s: %d accepted cases (worst rel. error %.2g), %d rejected\n", k->name.c_str(), accepted, worst,
                rejected);
    ++checked;
  }
  std::printf("[ oracle ] %d fast kernels checked at ISA <= %s\n", checked, std::string(isa_name(cpu_isa)).c_str());
}

// Conv -> BatchNormalization -> Relu and Gemm -> Clip: the fusion pass (runtime/passes/fusion.cpp)
// folds/fuses them when optimizing; results must match the unoptimized reference graph.
namespace {

ir::Graph conv_bn_relu_graph(std::mt19937& rng, int64_t clip_opset) {
  ir::Graph g;
  g.opset_imports[""] = static_cast<int>(clip_opset);
  const int64_t c = 5, m = 7;
  ir::Value* x = g.add_value("x");
  x->desc = ir::TensorDesc::known(DType::kF32, {1, c, 9, 11});
  g.inputs.push_back(x);
  auto cst = [&](const std::string& n, Shape s, float lo, float hi) {
    Tensor t(DType::kF32, s);
    std::uniform_real_distribution<float> d(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return g.add_constant(n, t);
  };
  ir::Value* conv_out = g.add_value("conv_out");
  ir::Node* conv = g.add_node("Conv", {x, cst("w", {m, c, 3, 3}, -1, 1), cst("b", {m}, -1, 1)}, {conv_out}, "conv");
  set_attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  ir::Value* bn_out = g.add_value("bn_out");
  g.add_node("BatchNormalization", {conv_out, cst("s", {m}, 0.5, 2), cst("beta", {m}, -1, 1), cst("mean", {m}, -1, 1), cst("var", {m}, 0.1, 2)},
             {bn_out}, "bn");
  ir::Value* relu_out = g.add_value("relu_out");
  g.add_node("Relu", {bn_out}, {relu_out}, "relu");
  ir::Value* flat = g.add_value("flat");
  ir::Node* fl = g.add_node("Flatten", {relu_out}, {flat}, "flatten");
  set_attr(fl, "axis", int64_t{1});
  ir::Value* gemm_out = g.add_value("gemm_out");
  ir::Node* gemm = g.add_node("Gemm", {flat, cst("wg", {3, m * 9 * 11}, -0.1f, 0.1f), cst("bg", {3}, -1, 1)}, {gemm_out}, "gemm");
  set_attr(gemm, "transB", int64_t{1});
  ir::Value* y = g.add_value("y");
  ir::Node* clip;
  if (clip_opset < 11) {
    clip = g.add_node("Clip", {gemm_out}, {y}, "clip");
    set_attr(clip, "min", -0.25f);
    set_attr(clip, "max", 0.5f);
  } else {
    Tensor lo = Tensor::scalar<float>(-0.25f), hi = Tensor::scalar<float>(0.5f);
    clip = g.add_node("Clip", {gemm_out, g.add_constant("lo", lo), g.add_constant("hi", hi)}, {y}, "clip");
  }
  g.outputs.push_back(y);
  for (auto& n : g.nodes) n->opset = static_cast<int>(clip_opset);
  return g;
}

}  // namespace

TEST(Fusion, ConvBatchNormReluAndGemmClipMatchUnfused) {
  for (int64_t opset : {9, 13}) {  // Clip bounds as attributes (< 11) and as inputs
    SCOPED_TRACE("opset " + std::to_string(opset));
    std::mt19937 rng(5), rng2(5), rx(11);
    Tensor x(DType::kF32, {1, 5, 9, 11});
    std::uniform_real_distribution<float> d(-1, 1);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = d(rx);
    SessionOptions plain;
    plain.optimize = false;
    plain.threads = 1;
    SessionOptions fused;
    fused.threads = 2;
    std::unique_ptr<Session> s0, s1;
    ASSERT_TRUE(Session::create(conv_bn_relu_graph(rng, opset), plain, s0).is_ok());
    Status st = Session::create(conv_bn_relu_graph(rng2, opset), fused, s1);
    ASSERT_TRUE(st.is_ok()) << st.message();
    // BatchNormalization is always folded; Relu/Clip only when an optimized kernel runs Conv and Gemm.
    bool fast = false;
    for (const KernelDef* k : KernelRegistry::builtin().all())
      if (k->op_type == "Conv" && k->priority > 0 && k->isa <= max_isa()) fast = true;
    EXPECT_EQ(s0->stats().kernel_for_node.size(), 6u);
    EXPECT_EQ(s1->stats().kernel_for_node.size(), fast ? 3u : 5u);
    Tensor y0 = s0->run(std::vector<Tensor>{x})[0], y1 = s1->run(std::vector<Tensor>{x})[0];
    ASSERT_EQ(y0.shape(), y1.shape());
    for (int64_t i = 0; i < y0.numel(); ++i) EXPECT_NEAR(y0.data<float>()[i], y1.data<float>()[i], 1e-4) << i;
  }
}
