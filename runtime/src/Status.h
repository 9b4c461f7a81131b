//===- Status.h - errors inside libmoert -----------------------------------===//
//
// Internally a call returns a Status (ok, or a code and a message); the C API
// turns it into a moert_status_t *. Building a message allocates, which is
// fine: it happens only on the error path.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_STATUS_H
#define MOERT_SRC_STATUS_H

#include "moert/moert.h"

#include <sstream>
#include <string>
#include <utility>

namespace moert::rt {

class Status {
public:
  Status() = default;
  Status(moert_status_code_t code, std::string message)
      : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == MOERT_OK; }
  explicit operator bool() const { return ok(); }
  moert_status_code_t code() const { return code_; }
  const std::string &message() const { return message_; }

  /// The same error with `prefix` in front of the message.
  Status prefixed(const std::string &prefix) const {
    if (ok())
      return *this;
    return Status(code_, prefix + message_);
  }

private:
  moert_status_code_t code_ = MOERT_OK;
  std::string message_;
};

/// An error whose message is the concatenation of `parts` (anything an
/// std::ostream prints).
template <typename... Parts>
Status error(moert_status_code_t code, const Parts &...parts) {
  std::ostringstream os;
  (os << ... << parts);
  return Status(code, os.str());
}

/// Converts to the C API's form: NULL for ok, a new moert_status_t otherwise
/// (a static out-of-memory status when even that cannot be allocated).
moert_status_t *toC(const Status &status);
moert_status_t *toC(moert_status_code_t code, const char *message);

} // namespace moert::rt

#endif // MOERT_SRC_STATUS_H
