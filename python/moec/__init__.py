"""moec from Python: run compiled Mixture-of-Experts artifacts (.moeb).

    import numpy as np, moec
    model = moec.load("model.moeb")            # checks every byte (verify="full")
    print(model.functions, model.inputs("layer_0"))
    session = model.session(threads=2)          # a CPU session ("cuda:0" for GPU artifacts)
    y = session.run(x, function="layer_0")     # x: float32 [T, H], NumPy or torch
    stats = session.aux_outputs()               # {"router_stats.0": array, ...}

Inputs are read in place (no copy) from NumPy arrays (buffer protocol) and
from torch tensors (DLPack) on the CPU; with ``out=`` the results are written
in place into the caller's arrays or tensors. Every failure raises
:class:`moec.Error`, whose message is the runtime's and whose ``code`` is its
status code's name (``"invalid argument"``, ``"invalid artifact"``, ...).

:mod:`moec.torch` wraps a compiled block as a ``torch.nn.Module``
(``MoeBlock``). The C API (``moert.h``) is the reference for every behaviour;
docs/python.md describes this package.
"""

from . import _moec
from ._moec import Error

__all__ = ["Error", "LocalGroup", "Model", "Session", "TensorInfo", "load", "nccl_rank",
           "nccl_unique_id", "version", "backends"]


def version():
    """libmoert's version string."""
    return _moec.version()


def backends():
    """The runtime's backends, e.g. "cpu" or "cpu,cuda"."""
    return _moec.backends()


class TensorInfo:
    """What a function declares about one of its tensors: name, dtype ("f32",
    "bf16", "f16", "i32") and shape, with None for the token dimension T."""

    __slots__ = ("name", "dtype", "shape")

    def __init__(self, name, dtype, shape):
        self.name, self.dtype, self.shape = name, dtype, tuple(shape)

    def __repr__(self):
        dims = ", ".join("T" if d is None else str(d) for d in self.shape)
        return "TensorInfo(%r, %s, [%s])" % (self.name, self.dtype, dims)

    def __eq__(self, other):
        return (isinstance(other, TensorInfo) and
                (self.name, self.dtype, self.shape) == (other.name, other.dtype, other.shape))


def _infos(raw):
    return [TensorInfo(d["name"], d["dtype"], d["shape"]) for d in raw]


class Model:
    """A loaded artifact (moert_model_t). Sessions keep it alive."""

    def __init__(self, handle, path):
        self._m = handle
        self.path = path

    @property
    def functions(self):
        """The names of the artifact's functions (moe-import names layer i's
        function ``layer_i``)."""
        return list(self._m.functions)

    @property
    def max_tokens(self):
        """The largest T a run accepts."""
        return self._m.max_tokens

    @property
    def target(self):
        """"cpu" or "cuda"."""
        return self._m.target

    @property
    def producer(self):
        return self._m.producer

    def inputs(self, function=None):
        """The inputs of ``function`` (None: the only function), as TensorInfo."""
        return _infos(self._m.tensors(function, "input"))

    def outputs(self, function=None):
        return _infos(self._m.tensors(function, "output"))

    def aux_outputs(self, function=None):
        """Auxiliary outputs such as ``router_stats.<i>`` (docs/artifact.md)."""
        return _infos(self._m.tensors(function, "aux"))

    def session(self, device=None, threads=0):
        """A session on ``device`` ("cpu", "cuda" or "cuda:N"; default: the
        artifact's target) with ``threads`` threads (0: one per usable CPU)."""
        if device is None:
            device = "cuda" if self.target == "cuda" else "cpu"
        return Session(self, device, threads)

    def __repr__(self):
        return "moec.Model(%r, functions=%r, max_tokens=%d)" % (
            self.path, self.functions, self.max_tokens)


def load(path, verify="full", memory_budget=0):
    """Loads the artifact at ``path``. ``verify="full"`` checks every byte at
    load; ``"lazy"`` checks each weight before its first use.
    ``memory_budget`` bounds what a session of it may allocate (0: the
    machine's memory)."""
    import os
    return Model(_moec.load(os.fspath(path), verify, int(memory_budget)), os.fspath(path))


class LocalGroup:
    """N ranks of a sharded artifact (moe-compile --shard-experts) in this
    process (moert_local_group_t): give each rank's Session
    ``communicator=group.communicator(rank)`` and run each rank in its own
    thread (creating a session and every run are collectives; the runtime
    releases the GIL while it waits). ``timeout_ms`` bounds a rank's wait
    for the others."""

    def __init__(self, ranks, timeout_ms=60000):
        self.ranks = int(ranks)
        self._g = _moec.local_group(self.ranks, int(timeout_ms))

    def communicator(self, rank):
        """Rank ``rank``'s communicator."""
        return _moec.local_communicator(self._g, int(rank))


def nccl_unique_id():
    """A new NCCL communicator's identity (bytes), which one rank makes and
    sends to every rank (torch.distributed, MPI, ...)."""
    return _moec.nccl_unique_id()


def nccl_rank(unique_id, rank, ranks, device, timeout_ms=60000):
    """Rank ``rank`` of ``ranks`` of an NCCL communicator (libnccl.so.2,
    opened at run time: the process's own when it has loaded one) on GPU
    cuda:``device``, for a CUDA Session of a sharded artifact on that GPU.
    Every rank calls it with the same ``unique_id``; it returns when all
    have."""
    return _moec.nccl_rank(bytes(unique_id), int(rank), int(ranks), int(device),
                           int(timeout_ms))


class Session:
    """A session (moert_session_t): the arena, threads and kernels that runs
    take. One run at a time per session; runs allocate nothing.

    A rank of a sharded artifact takes ``communicator`` (a LocalGroup's or
    an NCCL rank's) and optionally ``placement`` (the expert in each slot,
    rank by rank; -1 for an empty slot): its creation and each run are
    collectives of every rank, each with its own tokens
    (docs/parallelism.md)."""

    def __init__(self, model, device="cpu", threads=0, communicator=None, placement=None):
        self.model = model
        self.device = device
        self._s = _moec.create_session(
            model._m, device, int(threads), communicator,
            None if placement is None else [int(e) for e in placement])

    @property
    def threads(self):
        return self._s.threads

    def run(self, *inputs, function=None, out=None):
        """Runs ``function`` (None: the only one) on ``inputs`` in order.

        Without ``out``: returns the outputs as new NumPy arrays, or, when the
        first input is a torch tensor, as torch tensors (written in place by
        the run); one output is returned alone, several as a tuple. With
        ``out`` (a tensor, or a sequence with one per output, each of the
        output's dtype and shape at this T): the run writes into them in
        place and returns ``out``. Inputs on a GPU (CUDA tensors) go to
        :meth:`enqueue`, on torch's current stream."""
        if inputs and _on_gpu(inputs[0]):
            return self.enqueue(*inputs, function=function, out=out)
        if out is not None:
            single = not isinstance(out, (list, tuple))
            outs = [out] if single else list(out)
            self._s.run(function, list(inputs), outs)
            return out
        if inputs and _is_torch(inputs[0]):
            return self._run_torch(function, inputs)
        results = self._s.run(function, list(inputs), None)
        return results[0] if len(results) == 1 else tuple(results)

    def _torch_outputs(self, function, inputs, device=None):
        import torch
        dtypes = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16,
                  "i32": torch.int32}
        T = _tokens(self.model.inputs(function), inputs)
        return [torch.empty([T if d is None else d for d in info.shape],
                            dtype=dtypes[info.dtype], device=device)
                for info in self.model.outputs(function)]

    def _run_torch(self, function, inputs):
        outs = self._torch_outputs(function, inputs)
        self._s.run(function, list(inputs), outs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def enqueue(self, *inputs, function=None, out=None, stream=None, aux=None):
        """Enqueues a run of a CUDA session on a CUDA stream, inputs and
        outputs in the GPU's memory (DLPack tensors: CUDA torch tensors), by
        moert_session_enqueue: it only enqueues (no synchronization, nothing
        copied to the host; inside the caller's stream capture too). ``out``:
        the outputs (one tensor, or a sequence, each of the output's dtype and
        shape at this T); without it, torch tensors are allocated on the
        first input's device. ``stream``: a CUstream handle (int) or an object
        with ``cuda_stream`` (a torch.cuda.Stream); default: torch's current
        stream for torch tensors, else the legacy default stream. ``aux``: a
        dict name -> device tensor for the auxiliary outputs wanted (e.g.
        ``{"router_logits.0": t}``, each of its dtype and shape at this T),
        copied device to device after the outputs. Faults the kernels find
        on the device are read later by :meth:`device_error` (docs/runtime.md,
        "Runs on the caller's stream")."""
        torch_stream = None
        if inputs and _is_torch(inputs[0]):
            import torch
            if stream is None:
                stream = torch.cuda.current_stream(inputs[0].device)
            torch_stream = stream if isinstance(stream, torch.cuda.Stream) else \
                torch.cuda.ExternalStream(int(stream), device=inputs[0].device)
        handle = int(getattr(stream, "cuda_stream", stream) or 0)
        result = out
        if out is None:
            if not (inputs and _is_torch(inputs[0])):
                raise _error("invalid argument", "enqueue allocates outputs as torch tensors: "
                             "pass out= for other DLPack inputs")
            outs = self._torch_outputs(function, inputs, device=inputs[0].device)
            result = outs[0] if len(outs) == 1 else tuple(outs)
        else:
            outs = [out] if not isinstance(out, (list, tuple)) else list(out)
        aux_list = []
        if aux:
            names = [a.name for a in self.model.aux_outputs(function)]
            unknown = sorted(set(aux) - set(names))
            if unknown:
                raise _error("invalid argument", "no aux output %s (the function has %s)" % (
                    ", ".join(unknown), ", ".join(names)))
            aux_list = [aux.get(n) for n in names]
        self._s.enqueue(function, list(inputs), outs, aux_list, handle)
        if torch_stream is not None:
            # The caching allocator must not reuse these tensors' memory before
            # the work enqueued on `stream` is done with it.
            for t in list(inputs) + outs + [a for a in aux_list if a is not None]:
                if _is_torch(t):
                    t.record_stream(torch_stream)
        return result

    def device_error(self, stream=None):
        """Waits for ``stream`` (as :meth:`enqueue` takes it) and raises
        moec.Error when a kernel of the runs enqueued since the last call
        reported a fault (moert_session_device_error); clears the fault."""
        if stream is None and self.device.startswith("cuda"):
            try:
                import torch
                if torch.cuda.is_available():
                    index = int(self.device.partition(":")[2] or 0)
                    stream = torch.cuda.current_stream(torch.device("cuda", index))
            except ImportError:
                pass
        self._s.device_error(int(getattr(stream, "cuda_stream", stream) or 0))

    def aux_outputs(self):
        """The auxiliary outputs of the last successful run: each top-k's
        ``router_stats.<i>``, ``router_indices.<i>`` and ``router_logits.<i>``
        (docs/artifact.md), name -> NumPy array (copies)."""
        return self._s.aux_outputs()

    def set_router_noise(self, seed):
        """Noisy top-k gating: with an int ``seed``, later runs evaluate noisy
        routers (a router noise weight) with their noise, drawn by a
        counter-based generator from (seed, router, token, expert); with None
        (the default) the noise is ignored, as at inference. moec.Error on an
        artifact without a noisy router."""
        if seed is None:
            self._s.set_router_noise(False, 0)
            return
        import numbers
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
                or not 0 <= int(seed) < 2 ** 64:
            raise _error("invalid argument",
                         "the router noise seed must be an int in [0, 2^64), not %r" % (seed,))
        self._s.set_router_noise(True, int(seed))

    def last_run(self):
        """(function name, T) of the last successful run, or None."""
        return self._s.last_run()


def _error(code, message):
    """A moec.Error raised here, before the runtime is called."""
    e = Error(message)
    e.code = code
    return e


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _on_gpu(x):
    """True for a DLPack tensor in a GPU's memory (device type kDLCUDA)."""
    dev = getattr(x, "__dlpack_device__", None)
    if dev is None or isinstance(x, type):
        return False
    try:
        return dev()[0] == 2
    except Exception:  # noqa: BLE001 - a NumPy array that cannot export says why in run
        return False


def _tokens(infos, inputs):
    """T: the size of the inputs' token dimension (1 when none has one)."""
    for info, x in zip(infos, inputs):
        for i, d in enumerate(info.shape):
            if d is None and i < len(x.shape):
                return int(x.shape[i])
    return 1
