/*===- moert_mpi.h - a moert_communicator_t over MPI (header only) ---------===*
 *
 * Expert parallelism over MPI (docs/parallelism.md): compile this header
 * against your own <mpi.h> (it is not part of libmoert, which links no MPI):
 *
 *   #include <mpi.h>
 *   #include <moert/moert_mpi.h>
 *
 *   moert_mpi_communicator_t comm;
 *   char error[256];
 *   if (moert_mpi_communicator_init(&comm, MPI_COMM_WORLD, 60.0, error, sizeof error))
 *     ...                                    // error holds MPI's message
 *   options.communicator = &comm.base;      // for this rank's session
 *   ...                                      // sessions, runs
 *   moert_mpi_communicator_destroy(&comm);   // after the sessions, before MPI_Finalize
 *
 * Each exchange round posts a non-blocking receive per message, then a
 * non-blocking send per message (messages over 1 GiB in chunks), on a
 * duplicate of the communicator with MPI_ERRORS_RETURN, and polls them
 * until all are done: MPI's non-overtaking rule matches the i-th send
 * between two ranks to the i-th receive. A rank that waits longer than the
 * timeout fails the round; a rank that fails calls abort, which sends its
 * reason to every other rank on a tag of its own, and each rank polls for
 * it, so that nobody waits for a rank that will not come. After a failed
 * round the communicator is broken (every later round fails): tear the
 * sessions and the ranks down. MPI must be initialized, and a communicator
 * is used by one thread at a time.
 *
 *===----------------------------------------------------------------------===*/
#ifndef MOERT_MOERT_MPI_H
#define MOERT_MOERT_MPI_H

/* Only MPI's C API (Open MPI and MPICH would add their C++ bindings, and
 * with them a link dependency, to a C++ translation unit). */
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include "moert/moert.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { MOERT_MPI_TAG_DATA = 0x6d6f, MOERT_MPI_TAG_ABORT = 0x6d70 };
#define MOERT_MPI_CHUNK ((uint64_t)1 << 30)

typedef struct moert_mpi_communicator_t {
  moert_communicator_t base; /* pass &base to moert_session_options_t */
  MPI_Comm comm;             /* a duplicate, with MPI_ERRORS_RETURN */
  double timeout;            /* seconds */
  MPI_Request *requests;
  MPI_Status *statuses;
  uint64_t *expected; /* bytes of each receive request, then 0 for sends */
  size_t capacity;
  /* After a failed round the communicator is broken: messages of that
   * round may still be queued, so every later round fails at once. */
  int broken;
  int aborted; /* abort sent (once) */
  char abort_reason[512];
  MPI_Request *abort_requests; /* one per other rank */
} moert_mpi_communicator_t;

static inline void moert_mpi_error_(char *error, size_t error_bytes, const char *what, int rc) {
  char mpi[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  if (rc != MPI_SUCCESS)
    MPI_Error_string(rc, mpi, &length);
  if (error && error_bytes)
    snprintf(error, error_bytes, "%s%s%s", what, rc != MPI_SUCCESS ? ": " : "", mpi);
}

static inline size_t moert_mpi_chunks_(const moert_message_t *m, size_t n) {
  size_t chunks = 0;
  for (size_t i = 0; i < n; ++i)
    chunks += m[i].bytes == 0 ? 1 : (size_t)((m[i].bytes + MOERT_MPI_CHUNK - 1) / MOERT_MPI_CHUNK);
  return chunks;
}

static inline void moert_mpi_abort_(void *context, const char *reason);

/* After a failed round: cancels the pending receives and lets go of every
 * request (a send may still complete: after a failure the caller tears the
 * ranks down), marks the communicator broken and, unless the failure is
 * another rank's abort, tells the other ranks. Returns 1. */
static inline int moert_mpi_fail_(moert_mpi_communicator_t *c, size_t n, size_t receives,
                           const char *error, int tell) {
  for (size_t i = 0; i < n; ++i)
    if (c->requests[i] != MPI_REQUEST_NULL) {
      if (i < receives)
        MPI_Cancel(&c->requests[i]);
      MPI_Request_free(&c->requests[i]);
    }
  c->broken = 1;
  if (tell)
    moert_mpi_abort_(c, error);
  return 1;
}

static inline int moert_mpi_exchange_(void *context, const moert_message_t *sends, size_t num_sends,
                               const moert_message_t *recvs, size_t num_recvs, char *error,
                               size_t error_bytes) {
  moert_mpi_communicator_t *c = (moert_mpi_communicator_t *)context;
  if (c->broken) {
    if (error && error_bytes)
      snprintf(error, error_bytes, "the MPI communicator failed in an earlier round");
    return 1;
  }
  size_t receives = moert_mpi_chunks_(recvs, num_recvs);
  size_t n = receives + moert_mpi_chunks_(sends, num_sends);
  if (n > c->capacity) {
    size_t cap = n * 2;
    MPI_Request *r = (MPI_Request *)realloc(c->requests, cap * sizeof *r);
    if (r)
      c->requests = r;
    MPI_Status *s = r ? (MPI_Status *)realloc(c->statuses, cap * sizeof *s) : NULL;
    if (s)
      c->statuses = s;
    uint64_t *e = s ? (uint64_t *)realloc(c->expected, cap * sizeof *e) : NULL;
    if (!e) {
      moert_mpi_error_(error, error_bytes, "out of memory for the MPI requests", MPI_SUCCESS);
      c->capacity = 0; /* the arrays that did grow are kept, not used */
      return moert_mpi_fail_(c, 0, 0, error, 1);
    }
    c->expected = e;
    c->capacity = cap;
  }
  size_t k = 0;
  int rc = MPI_SUCCESS;
  /* Receives first, so that the sends find them posted. */
  for (int pass = 0; pass < 2 && rc == MPI_SUCCESS; ++pass) {
    const moert_message_t *m = pass == 0 ? recvs : sends;
    size_t count = pass == 0 ? num_recvs : num_sends;
    for (size_t i = 0; i < count && rc == MPI_SUCCESS; ++i) {
      if (m[i].peer < 0 || m[i].peer >= c->base.size) {
        moert_mpi_error_(error, error_bytes, "a message names a rank outside the communicator",
                         MPI_SUCCESS);
        return moert_mpi_fail_(c, k, receives, error, 1);
      }
      uint64_t at = 0;
      do {
        uint64_t part = m[i].bytes - at < MOERT_MPI_CHUNK ? m[i].bytes - at : MOERT_MPI_CHUNK;
        char *p = (char *)m[i].data + at;
        c->expected[k] = pass == 0 ? part : 0;
        if (pass == 0)
          rc = MPI_Irecv(p, (int)part, MPI_BYTE, m[i].peer, MOERT_MPI_TAG_DATA, c->comm,
                         &c->requests[k]);
        else
          rc = MPI_Isend(p, (int)part, MPI_BYTE, m[i].peer, MOERT_MPI_TAG_DATA, c->comm,
                         &c->requests[k]);
        if (rc == MPI_SUCCESS)
          ++k;
        at += part;
      } while (at < m[i].bytes && rc == MPI_SUCCESS);
    }
  }
  if (rc != MPI_SUCCESS) {
    moert_mpi_error_(error, error_bytes, "posting a message failed", rc);
    return moert_mpi_fail_(c, k, receives, error, 1);
  }
  double deadline = MPI_Wtime() + c->timeout;
  for (;;) {
    int done = 0, aborted = 0;
    MPI_Status st;
    rc = MPI_Testall((int)k, c->requests, &done, c->statuses);
    if (rc != MPI_SUCCESS) {
      moert_mpi_error_(error, error_bytes, "an exchange round failed", rc);
      return moert_mpi_fail_(c, k, receives, error, 1);
    }
    if (done)
      break;
    MPI_Iprobe(MPI_ANY_SOURCE, MOERT_MPI_TAG_ABORT, c->comm, &aborted, &st);
    if (aborted) {
      char reason[sizeof c->abort_reason] = {0};
      MPI_Recv(reason, (int)sizeof reason, MPI_CHAR, st.MPI_SOURCE, MOERT_MPI_TAG_ABORT,
               c->comm, MPI_STATUS_IGNORE);
      reason[sizeof reason - 1] = '\0';
      if (error && error_bytes)
        snprintf(error, error_bytes, "rank %d failed: %s", st.MPI_SOURCE, reason);
      return moert_mpi_fail_(c, k, receives, error, 0);
    }
    if (MPI_Wtime() > deadline) {
      if (error && error_bytes)
        snprintf(error, error_bytes,
                 "rank %d waited %g s in an exchange for ranks that never came (a rank "
                 "failed or stopped taking part)",
                 c->base.rank, c->timeout);
      return moert_mpi_fail_(c, k, receives, error, 1);
    }
  }
  /* A receive that got fewer bytes than it asked for (more is MPI's
   * truncation error, returned above). */
  for (size_t i = 0; i < k; ++i) {
    int got = 0;
    if (c->expected[i] && (MPI_Get_count(&c->statuses[i], MPI_BYTE, &got) != MPI_SUCCESS ||
                           (uint64_t)got != c->expected[i])) {
      if (error && error_bytes)
        snprintf(error, error_bytes, "rank %d sent %d bytes where rank %d expects %llu",
                 c->statuses[i].MPI_SOURCE, got, c->base.rank,
                 (unsigned long long)c->expected[i]);
      return moert_mpi_fail_(c, 0, 0, error, 1);
    }
  }
  return 0;
}

/* Sends `reason` to every other rank, once (later calls do nothing: the
 * first reason's buffer is still being sent from). */
static inline void moert_mpi_abort_(void *context, const char *reason) {
  moert_mpi_communicator_t *c = (moert_mpi_communicator_t *)context;
  c->broken = 1;
  if (c->aborted || !c->abort_requests)
    return;
  c->aborted = 1;
  snprintf(c->abort_reason, sizeof c->abort_reason, "%s", reason ? reason : "(no reason)");
  for (int r = 0; r < c->base.size; ++r)
    if (r != c->base.rank)
      MPI_Isend(c->abort_reason, (int)strlen(c->abort_reason) + 1, MPI_CHAR, r,
                MOERT_MPI_TAG_ABORT, c->comm, &c->abort_requests[r]);
}

/* Makes `c` this process's rank of `comm` (which it duplicates), with a
 * round timeout of `timeout_seconds` (> 0; else 60). 0 on success, else
 * non-zero with the failing MPI call's message in error[0, error_bytes). */
static inline int moert_mpi_communicator_init(moert_mpi_communicator_t *c, MPI_Comm comm,
                                       double timeout_seconds, char *error, size_t error_bytes) {
  memset(c, 0, sizeof *c);
  int rank = 0, size = 0, rc = MPI_Comm_dup(comm, &c->comm);
  if (rc == MPI_SUCCESS)
    rc = MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS)
    rc = MPI_Comm_rank(c->comm, &rank);
  if (rc == MPI_SUCCESS)
    rc = MPI_Comm_size(c->comm, &size);
  if (rc != MPI_SUCCESS) {
    moert_mpi_error_(error, error_bytes, "cannot set up the MPI communicator", rc);
    return 1;
  }
  c->abort_requests = (MPI_Request *)malloc((size_t)size * sizeof(MPI_Request));
  if (!c->abort_requests) {
    moert_mpi_error_(error, error_bytes, "out of memory for the MPI communicator", MPI_SUCCESS);
    MPI_Comm_free(&c->comm);
    return 1;
  }
  for (int r = 0; r < size; ++r)
    c->abort_requests[r] = MPI_REQUEST_NULL;
  c->timeout = timeout_seconds > 0 ? timeout_seconds : 60.0;
  c->base.rank = rank;
  c->base.size = size;
  c->base.context = c;
  c->base.exchange = moert_mpi_exchange_;
  c->base.abort = moert_mpi_abort_;
  return 0;
}

/* Frees what init made; the sessions that used it must be gone. An abort
 * that was sent is given up to a second to leave first. */
static inline void moert_mpi_communicator_destroy(moert_mpi_communicator_t *c) {
  if (c->aborted) {
    double deadline = MPI_Wtime() + 1.0;
    int done = 0;
    while (!done && MPI_Wtime() < deadline)
      MPI_Testall(c->base.size, c->abort_requests, &done, MPI_STATUSES_IGNORE);
  }
  for (int r = 0; r < c->base.size; ++r)
    if (c->abort_requests && c->abort_requests[r] != MPI_REQUEST_NULL)
      MPI_Request_free(&c->abort_requests[r]);
  free(c->abort_requests);
  free(c->requests);
  free(c->statuses);
  free(c->expected);
  MPI_Comm_free(&c->comm);
  memset(c, 0, sizeof *c);
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOERT_MOERT_MPI_H */
