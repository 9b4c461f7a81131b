//===- Nccl.h - the NCCL communicator (moert_nccl_t) ------------*- C++ -*-===//
//
// NCCL opened at run time (libnccl.so.2, the process's own when it has
// loaded one), behind moert_communicator_t: each round is one NCCL group of
// ncclSend / ncclRecv on the communicator's stream, waited for with a
// deadline. Messages in device memory go as they are; those in host memory
// through a device buffer of the communicator's.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CUDA_NCCL_H
#define MOERT_SRC_CUDA_NCCL_H

#include "moert/moert.h"

#include <cstdint>

namespace moert::rt::cuda {

/// The GPU of `c` when it is an NCCL communicator of this runtime's
/// (moert_nccl_communicator), whose messages may lie in that GPU's memory;
/// -1 for any other communicator.
int32_t ncclDeviceOf(const moert_communicator_t &c);

} // namespace moert::rt::cuda

#endif // MOERT_SRC_CUDA_NCCL_H
