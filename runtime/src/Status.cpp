//===- Status.cpp - moert_status_t ----------------------------------------===//
#include "Status.h"

#include <new>

struct moert_status {
  moert_status_code_t code;
  std::string message;
};

namespace {
// Returned when a status cannot be allocated; moert_status_free ignores it.
moert_status kOutOfMemoryStatus{MOERT_OUT_OF_MEMORY,
                                "out of memory (while reporting an error)"};
} // namespace

namespace moert::rt {

moert_status_t *toC(moert_status_code_t code, const char *message) {
  if (code == MOERT_OK)
    return nullptr;
  try {
    return new moert_status{code, message ? message : ""};
  } catch (...) {
    return &kOutOfMemoryStatus;
  }
}

moert_status_t *toC(const Status &status) {
  if (status.ok())
    return nullptr;
  return toC(status.code(), status.message().c_str());
}

} // namespace moert::rt

extern "C" {

moert_status_code_t moert_status_code(const moert_status_t *status) {
  return status ? status->code : MOERT_OK;
}

const char *moert_status_message(const moert_status_t *status) {
  return status ? status->message.c_str() : "ok";
}

void moert_status_free(moert_status_t *status) {
  if (status && status != &kOutOfMemoryStatus)
    delete status;
}

const char *moert_status_code_name(moert_status_code_t code) {
  switch (code) {
  case MOERT_OK: return "ok";
  case MOERT_INVALID_ARGUMENT: return "invalid argument";
  case MOERT_NOT_FOUND: return "not found";
  case MOERT_IO_ERROR: return "i/o error";
  case MOERT_INVALID_ARTIFACT: return "invalid artifact";
  case MOERT_UNSUPPORTED: return "unsupported";
  case MOERT_OUT_OF_MEMORY: return "out of memory";
  case MOERT_EXECUTION_ERROR: return "execution error";
  case MOERT_LOAD_ERROR: return "load error";
  case MOERT_FAILED_PRECONDITION: return "failed precondition";
  case MOERT_INTERNAL: return "internal error";
  }
  return "unknown status code";
}

} // extern "C"
