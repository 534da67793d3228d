// Status values used inside joule, and the one exception type thrown at the public edge.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace joule {

/// Broad category of a failure; the message carries the specifics (file, node, tensor).
enum class StatusCode {
  kOk = 0,
  kInvalidModel,     // malformed or inconsistent model file
  kUnsupported,      // op, dtype, attribute or opset joule does not implement
  kInvalidArgument,  // bad input from the caller (shape, dtype, name)
  kIo,               // file system error
  kResourceLimit,    // a size limit would be exceeded
  kInternal,         // broken invariant inside joule
};

/// A success/failure value with a human-readable message; cheap when ok.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  /// Returns a copy whose message is prefixed with `context: `.
  Status with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_model(std::string m) { return {StatusCode::kInvalidModel, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIo, std::move(m)}; }
inline Status resource_limit(std::string m) { return {StatusCode::kResourceLimit, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

/// The single error type the public API throws; what() is a one-line message.
class Error : public std::runtime_error {
 public:
  explicit Error(const Status& s) : std::runtime_error(s.message()), code_(s.code()) {}
  StatusCode code() const { return code_; }

 private:
  StatusCode code_;
};

/// Throws joule::Error when `s` is not ok (used only at the public API edge).
inline void throw_if_error(const Status& s) {
  if (!s.is_ok()) throw Error(s);
}

}  // namespace joule

#define JOULE_RETURN_IF_ERROR(expr)          \
  do {                                       \
    ::joule::Status _joule_st = (expr);      \
    if (!_joule_st.is_ok()) return _joule_st; \
  } while (0)

#define JOULE_CHECK_ARG(cond, msg)                                   \
  do {                                                               \
    if (!(cond)) return ::joule::invalid_argument(msg);              \
  } while (0)
