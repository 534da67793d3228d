// Runs the ONNX backend test cases shipped in Debian's libonnx-testdata against joule and compares
// outputs at the ONNX tolerances (rtol 1e-3, atol 1e-7 for floats; exact otherwise).
//
// A case whose model uses an op joule does not implement is counted as skipped and its ops listed.
// A case of a supported op must pass unless tests/conformance/known_failures.txt lists it with a reason;
// a listed case that passes is reported so the list stays honest.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "joule/session.h"
#include "kernels/kernel_registry.h"
#include "onnx_import/onnx_import.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/op_registry.h"

namespace fs = std::filesystem;
using namespace joule;

namespace {

struct Args {
  std::string data = "/usr/share/libonnx-testdata/data";
  std::string known_failures;
  std::vector<std::string> filters;
  std::vector<std::string> sets = {"node", "pytorch-converted", "pytorch-operator", "simple"};
  bool verbose = false;
  int threads = 1;
};

std::string compare(const Tensor& got, const Tensor& want, double rtol, double atol) {
  if (got.dtype() != want.dtype())
    return "dtype " + std::string(dtype_name(got.dtype())) + " != expected " + std::string(dtype_name(want.dtype()));
  if (got.shape() != want.shape())
    return "shape " + shape_to_string(got.shape()) + " != expected " + shape_to_string(want.shape());
  int64_t n = want.numel();
  std::string err;
  int64_t bad = 0;
  bool is_float = dtype_is_float(want.dtype());
  dispatch_all(want.dtype(), [&]<class T>() {
    const T* g = got.data<T>();
    const T* w = want.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      double a = static_cast<double>(to_compute(g[i])), b = static_cast<double>(to_compute(w[i]));
      bool ok;
      if (is_float) {
        if (std::isnan(b)) ok = std::isnan(a);
        else if (std::isinf(b)) ok = a == b;
        else ok = std::fabs(a - b) <= atol + rtol * std::fabs(b);
      } else {
        ok = to_compute(g[i]) == to_compute(w[i]);
      }
      if (!ok) {
        if (bad++ == 0) {
          std::ostringstream os;
          os.precision(9);
          os << "element " << i << ": got " << a << ", expected " << b;
          err = os.str();
        }
      }
    }
  });
  if (bad) err += " (" + std::to_string(bad) + " of " + std::to_string(n) + " elements differ)";
  return err;
}

// Same bytes viewed as another dtype of equal size.
Tensor reinterpret_bits(const Tensor& t, DType to) {
  Tensor out(to, t.shape());
  std::memcpy(out.raw(), t.raw(), t.nbytes());
  return out;
}

std::map<std::string, std::string> read_known_failures(const std::string& path) {
  std::map<std::string, std::string> out;
  if (path.empty()) return out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.find_first_of(" \t");
    std::string name = line.substr(0, sp);
    std::string reason = sp == std::string::npos ? "" : line.substr(line.find_first_not_of(" \t", sp));
    out[name] = reason;
  }
  return out;
}

void collect_ops(const ir::Graph& g, std::set<std::string>& missing) {
  const auto& oreg = ops::OpRegistry::builtin();
  const auto& kreg = kernels::KernelRegistry::builtin();
  for (auto& n : g.nodes) {
    if (!oreg.find(n->domain, n->op_type) || !kreg.has_op(n->domain, n->op_type))
      missing.insert(n->domain.empty() ? n->op_type : n->domain + "." + n->op_type);
    for (auto& [k, a] : n->attrs) {
      if (a.g) collect_ops(*a.g, missing);
      for (auto& sg : a.graphs) collect_ops(*sg, missing);
    }
  }
}

// Returns "" when the case passes, otherwise the reason.
std::string run_case(const fs::path& dir, const Args& args, std::set<std::string>& missing_ops, bool& skipped) {
  skipped = false;
  ir::Graph g;
  Status st = onnx_import::import_model((dir / "model.onnx").string(), g);
  if (!st.is_ok()) {
    if (st.code() == StatusCode::kUnsupported) {
      skipped = true;
      missing_ops.insert("(import) " + st.message().substr(st.message().find(':') + 2, 60));
      return "import: " + st.message();
    }
    return "import: " + st.message();
  }
  std::set<std::string> missing;
  collect_ops(g, missing);
  if (!missing.empty()) {
    skipped = true;
    missing_ops.insert(missing.begin(), missing.end());
    std::string s;
    for (auto& m : missing) s += m + " ";
    return "unsupported ops: " + s;
  }
  std::vector<std::string> input_names;
  for (ir::Value* v : g.inputs) input_names.push_back(v->name);
  SessionOptions opts;
  opts.threads = args.threads;
  std::unique_ptr<Session> sess;
  st = Session::create(std::move(g), opts, sess);
  if (!st.is_ok()) return "session: " + st.message();
  std::vector<fs::path> sets;
  for (auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return "no test_data_set_* folders";
  for (auto& ds : sets) {
    std::vector<std::pair<std::string, Tensor>> inputs;
    for (int i = 0;; ++i) {
      fs::path p = ds / ("input_" + std::to_string(i) + ".pb");
      if (!fs::exists(p)) break;
      Tensor t;
      std::string name;
      st = onnx_import::load_tensor_pb(p.string(), t, &name);
      if (!st.is_ok()) return "input: " + st.message();
      if (std::find(input_names.begin(), input_names.end(), name) == input_names.end())
        name = static_cast<size_t>(i) < input_names.size() ? input_names[static_cast<size_t>(i)] : name;
      inputs.emplace_back(name, std::move(t));
    }
    // numpy has no bfloat16, so onnx 1.12 stores bfloat16 tensors as uint16 bit patterns.
    for (auto& [name, t] : inputs)
      for (const IoInfo& io : sess->inputs())
        if (io.name == name && io.dtype == DType::kBF16 && t.dtype() == DType::kU16) t = reinterpret_bits(t, DType::kBF16);
    std::vector<Tensor> outs;
    st = sess->run(inputs, outs);
    if (!st.is_ok()) return ds.filename().string() + ": run: " + st.message();
    for (size_t i = 0;; ++i) {
      fs::path p = ds / ("output_" + std::to_string(i) + ".pb");
      if (!fs::exists(p)) break;
      Tensor want;
      st = onnx_import::load_tensor_pb(p.string(), want);
      if (!st.is_ok()) return "expected output: " + st.message();
      if (i >= outs.size()) return "missing output " + std::to_string(i);
      if (outs[i].dtype() == DType::kBF16 && want.dtype() == DType::kU16) want = reinterpret_bits(want, DType::kBF16);
      std::string err = compare(outs[i], want, 1e-3, 1e-7);
      if (!err.empty()) return ds.filename().string() + " output " + std::to_string(i) + ": " + err;
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data") args.data = next();
    else if (a == "--known-failures") args.known_failures = next();
    else if (a == "--filter") args.filters.push_back(next());
    else if (a == "--set") args.sets = {next()};
    else if (a == "--threads") args.threads = std::stoi(next());
    else if (a == "-v" || a == "--verbose") args.verbose = true;
    else if (a == "--help" || a == "-h") {
      std::cout << "usage: joule_conformance [--data DIR] [--set node|pytorch-converted|pytorch-operator|simple]\n"
                   "                         [--filter SUBSTR]... [--known-failures FILE] [--threads N] [-v]\n";
      return 0;
    } else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  if (!fs::is_directory(args.data)) {
    std::cout << "SKIPPED: " << args.data << " not found (install Debian's libonnx-testdata)\n";
    return 0;
  }
  auto known = read_known_failures(args.known_failures);
  int passed = 0, failed = 0, skipped = 0, expected_fail = 0, unexpected_pass = 0;
  std::set<std::string> missing_ops;
  std::vector<std::string> failures;
  for (const std::string& set : args.sets) {
    fs::path root = fs::path(args.data) / set;
    if (!fs::is_directory(root)) continue;
    std::vector<fs::path> cases;
    for (auto& e : fs::directory_iterator(root))
      if (e.is_directory() && fs::exists(e.path() / "model.onnx")) cases.push_back(e.path());
    std::sort(cases.begin(), cases.end());
    for (auto& c : cases) {
      std::string name = c.filename().string();
      if (!args.filters.empty()) {
        bool match = false;
        for (auto& f : args.filters) match |= name.find(f) != std::string::npos;
        if (!match) continue;
      }
      bool was_skipped = false;
      std::string err;
      try {
        err = run_case(c, args, missing_ops, was_skipped);
      } catch (const std::exception& e) {
        err = std::string("exception: ") + e.what();
      }
      std::string key = set + "/" + name;
      bool is_known = known.count(key) || known.count(name);
      if (was_skipped) {
        ++skipped;
        if (args.verbose) std::cout << "SKIP " << key << ": " << err << "\n";
      } else if (err.empty()) {
        if (is_known) {
          ++unexpected_pass;
          failures.push_back(key + ": passes but is listed in known_failures.txt (remove it)");
        } else {
          ++passed;
        }
        if (args.verbose) std::cout << "PASS " << key << "\n";
      } else if (is_known) {
        ++expected_fail;
        if (args.verbose) std::cout << "KNOWN " << key << ": " << err << "\n";
      } else {
        ++failed;
        failures.push_back(key + ": " + err);
      }
    }
  }
  for (auto& f : failures) std::cout << "FAIL " << f << "\n";
  if (!missing_ops.empty()) {
    std::cout << "ops without an implementation (their cases are skipped):";
    for (auto& m : missing_ops) std::cout << " " << m;
    std::cout << "\n";
  }
  std::cout << "known failures (listed with reasons in known_failures.txt): " << expected_fail << "\n";
  std::cout << "conformance: " << passed << " passed, " << failed + unexpected_pass << " failed, " << skipped
            << " skipped\n";
  return failed + unexpected_pass == 0 ? 0 : 1;
}
