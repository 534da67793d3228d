// Hostile and broken models: each must fail fast with a clean Status naming the file and the
// defect (expected_errors.txt), never crash or hang. A few also go through the joule CLI.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "joule/session.h"
#include "onnx_import/sample_io.h"
#include "tests/onnx_import/python_models.h"

namespace fs = std::filesystem;
using namespace joule;

namespace {

struct BadCase {
  std::string file;
  std::vector<std::string> expected;  // any one must occur in the message
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.file; }

std::vector<BadCase> load_manifest() {
  std::vector<BadCase> out;
  std::ifstream in(JOULE_SOURCE_DIR "/tests/bad_models/expected_errors.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t gap = line.find("  ");
    if (gap == std::string::npos) continue;
    BadCase c{line.substr(0, gap), {}};
    std::string rest = line.substr(line.find_first_not_of(' ', gap));
    std::stringstream ss(rest);
    for (std::string alt; std::getline(ss, alt, '|');) c.expected.push_back(alt);
    out.push_back(std::move(c));
  }
  return out;
}

std::string models_dir() {
  static const std::string dir =
      testutil::generate_models(JOULE_SOURCE_DIR "/tests/bad_models/make_bad_models.py", "bad_models");
  return dir;
}

bool contains_any(const std::string& msg, const std::vector<std::string>& alts) {
  for (const auto& a : alts)
    if (msg.find(a) != std::string::npos) return true;
  return false;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "'" : " or '") + x + "'";
  return s;
}

bool is_run_case(const std::string& file) { return file.rfind("run_", 0) == 0; }

/// Loads and (for run_ cases) runs a model; returns the first error. The tensor limit is lowered
/// to 1 GiB so that the resource-limit cases stay cheap even if a limit check regresses.
Status load_and_run(const std::string& path) {
  SessionOptions opts;
  opts.max_tensor_bytes = uint64_t{1} << 30;
  std::unique_ptr<Session> s;
  JOULE_RETURN_IF_ERROR(Session::create(path, opts, s));
  std::vector<std::pair<std::string, Tensor>> ins;
  std::string in_dir = path.substr(0, path.size() - 5) + ".inputs";
  if (fs::is_directory(in_dir)) JOULE_RETURN_IF_ERROR(onnx_import::load_sample_dir(in_dir, ins));
  for (size_t i = 0; i < ins.size() && i < s->inputs().size(); ++i) ins[i].first = s->inputs()[i].name;
  std::vector<Tensor> outs;
  return s->run(ins, outs);
}

class BadModel : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadModel, FailsCleanly) {
  if (!testutil::have_python_onnx()) GTEST_SKIP() << "/usr/bin/python3 with the onnx and numpy modules is not available";
  ASSERT_FALSE(models_dir().empty()) << "make_bad_models.py failed";
  const BadCase& c = GetParam();
  std::string path = models_dir() + "/" + c.file;
  ASSERT_TRUE(fs::exists(path)) << path << " was not generated";

  auto t0 = std::chrono::steady_clock::now();
  Status st = load_and_run(path);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 10.0) << c.file << " took too long to fail";
  ASSERT_FALSE(st.is_ok()) << c.file << " loaded and ran without an error";
  std::printf("[ MESSAGE  ] %s\n", st.message().c_str());
  EXPECT_TRUE(contains_any(st.message(), c.expected)) << "expected " << join(c.expected) << "\ngot: " << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos) << "error messages are one line: " << st.message();
  // Load errors name the file; run errors come from Session::run, which does not know it.
  if (!is_run_case(c.file)) EXPECT_NE(st.message().find(c.file), std::string::npos) << st.message();
}

std::string case_name(const ::testing::TestParamInfo<BadCase>& info) {
  std::string n = info.param.file.substr(0, info.param.file.rfind('.'));
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadModel, ::testing::ValuesIn(load_manifest()), case_name);

TEST(BadModelManifest, ListsEveryGeneratedModel) {
  if (!testutil::have_python_onnx()) GTEST_SKIP() << "/usr/bin/python3 with the onnx and numpy modules is not available";
  ASSERT_FALSE(models_dir().empty());
  auto cases = load_manifest();
  EXPECT_GE(cases.size(), 25u);
  for (const auto& e : fs::directory_iterator(models_dir())) {
    if (e.path().extension() != ".onnx") continue;
    std::string f = e.path().filename().string();
    bool listed = false;
    for (const auto& c : cases) listed |= c.file == f;
    EXPECT_TRUE(listed) << f << " is generated but has no expected error";
  }
}

// ---- the CLI: non-zero exit and exactly one line on stderr ------------------------------------

std::string joule_bin() {
  const char* env = std::getenv("JOULE_BIN");
  return std::string(env ? env : JOULE_BINARY_DIR "/bin") + "/joule";
}

struct CliResult {
  int exit_code = -1;
  std::string err;
};

CliResult run_cli(const std::string& args) {
  fs::path err = fs::path(JOULE_BINARY_DIR) / "test_out" / ("cli_err." + std::to_string(::getpid()));
  std::string cmd = "'" + joule_bin() + "' " + args + " >/dev/null 2>'" + err.string() + "'";
  int rc = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  std::ifstream in(err);
  r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  fs::remove(err);
  return r;
}

class BadModelCli : public ::testing::TestWithParam<std::string> {};

TEST_P(BadModelCli, OneLineErrorAndNonZeroExit) {
  if (!testutil::have_python_onnx()) GTEST_SKIP() << "/usr/bin/python3 with the onnx and numpy modules is not available";
  if (!fs::exists(joule_bin())) GTEST_SKIP() << joule_bin() << " is not built";
  ASSERT_FALSE(models_dir().empty());
  const std::string file = GetParam();
  BadCase c;
  for (const auto& m : load_manifest())
    if (m.file == file) c = m;
  ASSERT_EQ(c.file, file) << "not in the manifest";
  std::string path = models_dir() + "/" + file;
  std::string args = is_run_case(file)
                         ? "run '" + path + "' --inputs '" + path.substr(0, path.size() - 5) + ".inputs'"
                         : "inspect '" + path + "'";
  if (!is_run_case(file)) {
    // inspect reports unsupported ops as information; `run` must refuse them.
    args = "run '" + path + "' --inputs '" + models_dir() + "'";
  }
  CliResult r = run_cli(args);
  EXPECT_NE(r.exit_code, 0) << args;
  EXPECT_LT(r.exit_code, 128) << "killed by a signal: " << args;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "stderr is not one line:\n" << r.err;
  EXPECT_TRUE(contains_any(r.err, c.expected)) << "expected " << join(c.expected) << "\ngot: " << r.err;
  EXPECT_NE(r.err.find(file), std::string::npos) << "the message does not name the file: " << r.err;
}

INSTANTIATE_TEST_SUITE_P(Cli, BadModelCli,
                         ::testing::Values("truncated.onnx", "unknown_op.onnx", "external_outside.onnx",
                                           "nested_subgraphs.onnx", "huge_initializer.onnx", "run_wrong_dtype.onnx",
                                           "run_huge_input_dims.onnx"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param.substr(0, i.param.rfind('.'));
                         });

TEST(BadModelCli, InspectFailsOnCorruptFile) {
  if (!testutil::have_python_onnx()) GTEST_SKIP() << "/usr/bin/python3 with the onnx and numpy modules is not available";
  if (!fs::exists(joule_bin())) GTEST_SKIP() << joule_bin() << " is not built";
  ASSERT_FALSE(models_dir().empty());
  for (const char* f : {"truncated.onnx", "external_absolute.onnx", "opset_too_new.onnx", "cycle.onnx"}) {
    CliResult r = run_cli("inspect '" + models_dir() + "/" + f + "'");
    EXPECT_NE(r.exit_code, 0) << f;
    EXPECT_LT(r.exit_code, 128) << f;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << f << ": stderr is not one line:\n" << r.err;
    EXPECT_NE(r.err.find(f), std::string::npos) << r.err;
  }
}

}  // namespace
