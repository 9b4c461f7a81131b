"""Session.enqueue (device tensors on the caller's CUDA stream) on the
stand-in CUDA driver (test/unit/runtime/fakecuda), as e2e/cuda_enqueue.test
does for the C API: the host side only (the stand-in computes no kernel), so
what is checked is the call sequence. A child process with the stand-in
first on LD_LIBRARY_PATH owns the device memory and the stream through the
driver API (ctypes) and hands moec DLPack tensors of that memory."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import compile_checkpoint

FAKECUDA = os.environ.get("MOEC_FAKECUDA", "")
if not os.path.exists(os.path.join(FAKECUDA, "libcuda.so.1")):
    FAKECUDA = None

CHILD = textwrap.dedent(r'''
    import ctypes, os, sys
    import numpy as np
    import moec

    artifact, x_path, trace = sys.argv[1:4]
    def mark(line):
        with open(trace, "a") as f:
            f.write("python: %s\n" % line)

    cuda = ctypes.CDLL("libcuda.so.1")
    def ok(rc, what):
        assert rc == 0, "%s failed: %d" % (what, rc)
    ok(cuda.cuInit(0), "cuInit")
    dev = ctypes.c_int()
    ok(cuda.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
    ctx = ctypes.c_void_p()
    ok(cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
    ok(cuda.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    stream = ctypes.c_void_p()
    ok(cuda.cuStreamCreate(ctypes.byref(stream), 1), "cuStreamCreate")
    x = np.load(x_path)
    def alloc(nbytes):
        p = ctypes.c_uint64()
        ok(cuda.cuMemAlloc_v2(ctypes.byref(p), ctypes.c_size_t(nbytes)), "cuMemAlloc")
        return p.value
    px, py = alloc(x.nbytes), alloc(x.nbytes)
    pl = alloc(x.shape[0] * 12 * 4)  # router_logits.0: f32 [T, 12]
    ok(cuda.cuMemcpyHtoD_v2(ctypes.c_uint64(px), x.ctypes.data_as(ctypes.c_void_p),
                            ctypes.c_size_t(x.nbytes)), "cuMemcpyHtoD")

    class DLDevice(ctypes.Structure):
        _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]
    class DLDataType(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]
    class DLTensor(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int),
                    ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                    ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]
    class DLManagedTensor(ctypes.Structure):
        pass
    Deleter = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
    DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                                ("deleter", Deleter)]
    new_capsule = ctypes.pythonapi.PyCapsule_New
    new_capsule.restype = ctypes.py_object
    new_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    released, streams, keep = [], [], []

    class DeviceArray:
        """float32 device memory as a DLPack producer (kDLCUDA)."""
        def __init__(self, ptr, shape):
            self.ptr, self.shape = ptr, shape
        def __dlpack_device__(self):
            return (2, 0)
        def __dlpack__(self, stream=None):
            streams.append(stream)
            m = DLManagedTensor()
            shape = (ctypes.c_int64 * len(self.shape))(*self.shape)
            m.dl_tensor = DLTensor(self.ptr, DLDevice(2, 0), len(self.shape), DLDataType(2, 32, 1),
                                   shape, None, 0)
            m.deleter = Deleter(lambda p: released.append(1))
            keep.append((m, shape, m.deleter))
            return new_capsule(ctypes.addressof(m), b"dltensor", None)

    session = moec.load(artifact).session("cuda:0")
    X, Y = DeviceArray(px, x.shape), DeviceArray(py, x.shape)
    L = DeviceArray(pl, (x.shape[0], 12))
    mark("runs begin")
    for _ in range(3):
        assert session.enqueue(X, out=Y, function="layer_0", stream=stream.value,
                               aux={"router_logits.0": L}) is Y
    mark("runs end")
    session.device_error(stream.value)
    mark("fault word read")
    print("released %d of %d, streams %s" % (len(released), len(keep),
                                             sorted(set(streams)) == [stream.value]))
    try:
        session.enqueue(X, out=Y, function="layer_0", stream=stream.value,
                        aux={"router_logits.0": DeviceArray(pl, (x.shape[0], 11))})
    except moec.Error as e:
        print("aux shape:", e.code, e)
    try:
        session.enqueue(X, out=Y, function="layer_0", stream=stream.value, aux={"nope": L})
    except moec.Error as e:
        print("aux name:", e.code, e)
    try:
        session.enqueue(DeviceArray(12345, x.shape), out=Y, function="layer_0", stream=stream.value)
    except moec.Error as e:
        print("outside:", e.code, e)
    try:
        session.enqueue(x, out=Y, function="layer_0", stream=stream.value)
    except moec.Error as e:
        print("host:", e.code, e)
    try:
        session.run(x, function="layer_0")
        print("host run: ok")
    except moec.Error as e:
        print("host run:", e)
    del session
    for p in (px, py, pl):
        ok(cuda.cuMemFree_v2(ctypes.c_uint64(p)), "cuMemFree")
    ok(cuda.cuStreamDestroy_v2(stream), "cuStreamDestroy")
    ok(cuda.cuDevicePrimaryCtxRelease_v2(dev), "cuDevicePrimaryCtxRelease")
''')


@pytest.mark.skipif(not FAKECUDA, reason="the stand-in CUDA driver (MOEC_FAKECUDA) is not built")
def test_enqueue_device_tensors_on_the_stand_in_driver(tmp_path):
    c = compile_checkpoint(tmp_path, compiler=("--target=cuda:sm_90", "--cuda-binary=ptx",
                                               "--cuda-gemv-max-tokens", "8"))
    x = os.path.join(c.dir, "ref", "layer_0", "x_T7.npy")
    trace = tmp_path / "trace"
    env = dict(os.environ, LD_LIBRARY_PATH=FAKECUDA, FAKECUDA_TRACE=str(trace))
    out = subprocess.run([sys.executable, "-c", CHILD, c.artifact, x, str(trace)], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # every borrowed DLPack tensor released once, each exported for the run's stream
    assert "released 9 of 9, streams True" in out.stdout
    assert "aux shape: invalid argument" in out.stdout and "router_logits.0" in out.stdout
    assert "aux name: invalid argument" in out.stdout and "no aux output nope" in out.stdout
    assert "outside: invalid argument" in out.stdout and "input 0" in out.stdout
    assert "host: invalid argument" in out.stdout and "not in a GPU's memory" in out.stdout
    assert "host run: ok" in out.stdout  # a CUDA session still runs host arrays
    lines = trace.read_text().splitlines()
    runs = lines[lines.index("python: runs begin") + 1:lines.index("python: runs end")]
    assert sum("cuGraphLaunch" in l for l in runs) == 3, runs
    # per run: x in, y out, and the router logits (7 x 12 f32) to the caller's memory
    assert sum("cuMemcpyDtoDAsync_v2" in l for l in runs) == 9, runs
    assert sum("cuMemcpyDtoDAsync_v2 336 bytes" in l for l in runs) == 3, runs
    assert not any("Synchronize" in l or "DtoH" in l or "HtoD" in l for l in runs), runs
    after = lines[lines.index("python: runs end") + 1:lines.index("python: fault word read")]
    assert any("cuMemcpyDtoHAsync_v2 4 bytes" in l for l in after), after
    assert not any("leak" in l for l in lines), lines


RANKS = textwrap.dedent(r'''
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    import moec

    artifact, x_path = sys.argv[1:3]
    x = np.load(x_path)
    model = moec.load(artifact)
    uid = moec.nccl_unique_id()
    shapes, errors = [None, None], []
    def rank(r):
        try:
            comm = moec.nccl_rank(uid, r, 2, device=r, timeout_ms=20000)
            s = moec.Session(model, "cuda:%d" % r, communicator=comm)
            lo, hi = (0, 4) if r == 0 else (4, 7)
            shapes[r] = s.run(x[lo:hi], function="layer_0").shape
        except Exception as e:
            errors.append("rank %d: %s" % (r, e))
    with ThreadPoolExecutor(2) as pool:  # the ranks at once: creation is a collective
        list(pool.map(rank, range(2)))
    print("errors:", errors)
    print("shapes:", shapes)
''')


@pytest.mark.skipif(not FAKECUDA, reason="the stand-in CUDA driver (MOEC_FAKECUDA) is not built")
def test_ranks_over_nccl_on_the_stand_in(tmp_path):
    """Two ranks of a sharded CUDA artifact as Python threads, over an NCCL
    communicator (moec.nccl_unique_id / nccl_rank) on the stand-in driver
    and NCCL: every rank takes part in the exchanges' ncclSend / ncclRecv."""
    c = compile_checkpoint(tmp_path, compiler=("--target=cuda:sm_90", "--cuda-binary=ptx",
                                               "--shard-experts=2"))
    x = os.path.join(c.dir, "ref", "layer_0", "x_T7.npy")
    trace = tmp_path / "trace"
    env = dict(os.environ, LD_LIBRARY_PATH=FAKECUDA, FAKECUDA_TRACE=str(trace),
               FAKECUDA_DEVICES="2", TMPDIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", RANKS, c.artifact, x], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "errors: []" in out.stdout and "shapes: [(4, 72), (3, 72)]" in out.stdout, out.stdout
    log = trace.read_text()
    assert log.count("ncclCommInitRank: rank") == 2
    assert "ncclSend" in log and "ncclCommAbort" not in log


BUCKETS = textwrap.dedent(r'''
    import sys
    import numpy as np
    import moec

    artifact, x_path, trace = sys.argv[1:4]
    tokens = [int(t) for t in sys.argv[4].split(",")]
    x = np.load(x_path)
    s = moec.Session(moec.load(artifact), "cuda")
    for T in tokens:
        with open(trace, "a") as f:
            f.write("python: run at T = %d\n" % T)
        assert s.run(x[:T], function="layer_0").shape == (T, x.shape[1])
    print("ok")
''')


@pytest.mark.skipif(not FAKECUDA, reason="the stand-in CUDA driver (MOEC_FAKECUDA) is not built")
def test_graphs_per_token_bucket_on_the_stand_in(tmp_path):
    """A session's graphs are per T bucket (the next power of two): runs at
    T = 6 and 7 replay the one T = 5 captured at 8, T = 3 captures 4's; each
    run first writes its T to the run word, which the kernels read."""
    c = compile_checkpoint(tmp_path, compiler=("--target=cuda:sm_90", "--cuda-binary=ptx",
                                               "--cuda-gemv-max-tokens", "8"))
    x = os.path.join(c.dir, "ref", "layer_0", "x_T7.npy")
    trace = tmp_path / "trace"
    env = dict(os.environ, LD_LIBRARY_PATH=FAKECUDA, FAKECUDA_TRACE=str(trace))
    def run(artifact, tokens):
        trace.unlink(missing_ok=True)
        out = subprocess.run([sys.executable, "-c", BUCKETS, artifact, x, str(trace), tokens],
                             env=env, capture_output=True, text=True)
        assert out.returncode == 0 and "ok" in out.stdout, out.stdout + out.stderr
        lines = trace.read_text().splitlines()
        assert not any("leak" in l for l in lines), lines
        runs = {}
        for line in lines:
            if line.startswith("python: run at T = "):
                T = int(line.rsplit(" ", 1)[1])
                runs[T] = []
            elif runs:
                runs[T].append(line)
        return runs
    runs = run(c.artifact, "5,6,3,7")
    captures = {T: sum("capture begins" in l for l in ls) for T, ls in runs.items()}
    assert captures == {5: 1, 6: 0, 3: 1, 7: 0}, captures
    for T, ls in runs.items():
        assert sum(l.endswith(" = %d" % T) and "cuMemsetD32Async 4 bytes" in l
                   for l in ls) == 1, (T, ls)
        assert sum("cuGraphLaunch" in l for l in ls) == 1, (T, ls)
    # the router's GEMM multiplies the bucket's rows
    assert any("cublasGemmEx 12x8x72" in l for l in runs[5]), runs[5]
    assert any("cublasGemmEx 12x4x72" in l for l in runs[3]), runs[3]
    # With --cuda-gemv-max-tokens 6 the bucket of T = 5 is 6, not 8: at 8 the
    # grouped GEMMs would run on cuBLAS, outside the graph.
    (tmp_path / "gemv6").mkdir()
    c6 = compile_checkpoint(tmp_path / "gemv6", compiler=(
        "--target=cuda:sm_90", "--cuda-binary=ptx", "--cuda-gemv-max-tokens", "6"))
    runs = run(c6.artifact, "5,6")
    assert [sum("capture begins" in l for l in runs[T]) for T in (5, 6)] == [1, 0], runs
    assert any("cublasGemmEx 12x6x72" in l for l in runs[5]), runs[5]
    assert sum("grouped_gemv_warp" in l for l in runs[5]) == 3, runs[5]
