"""The package moec: loading, introspection, runs on NumPy and torch without
copies, auxiliary outputs, and errors as moec.Error. Numbers are compared
with test/reference's outputs (make_checkpoint.py), never with moec's own."""

import os
import shutil

import numpy as np
import pytest

import moec

TOL = 1e-5


def test_model_introspection(mixtral):
    m = moec.load(mixtral.artifact)
    assert m.functions == ["layer_0", "layer_1"]
    assert m.max_tokens == 64 and m.target == "cpu"
    assert m.producer.startswith("moec ")
    assert m.inputs("layer_0") == [moec.TensorInfo("x", "f32", (None, 72))]
    assert m.outputs("layer_1") == [moec.TensorInfo("y", "f32", (None, 72))]
    aux = {a.name: a for a in m.aux_outputs("layer_0")}
    assert aux["router_stats.0"].shape == (12 + 4,)
    assert aux["router_indices.0"] == moec.TensorInfo("router_indices.0", "i32", (None, 2))
    assert aux["router_logits.0"] == moec.TensorInfo("router_logits.0", "f32", (None, 12))
    assert "layer_0" in repr(m) and "T, 72" in repr(m.inputs("layer_0")[0])
    assert moec.version() and "cpu" in moec.backends()


@pytest.mark.parametrize("T", [1, 7, 64])
@pytest.mark.parametrize("layer", [0, 1])
def test_run_numpy_against_reference(mixtral, layer, T):
    s = moec.load(mixtral.artifact).session(threads=2)
    x = mixtral.ref(layer, "x", T)
    y = s.run(x, function="layer_%d" % layer)
    assert y.dtype == np.float32 and y.shape == (T, 72)
    np.testing.assert_allclose(y, mixtral.ref(layer, "y", T), rtol=0, atol=TOL)
    assert s.last_run() == ("layer_%d" % layer, T)
    aux = s.aux_outputs()
    np.testing.assert_array_equal(aux["router_indices.0"], mixtral.ref(layer, "indices", T))
    wg = mixtral.tensors["model.layers.%d.block_sparse_moe.gate.weight" % layer]
    logits = x.astype(np.float64) @ wg.astype(np.float64).T
    np.testing.assert_allclose(aux["router_logits.0"], logits, rtol=0, atol=TOL)
    stats = aux["router_stats.0"]
    load = np.bincount(mixtral.ref(layer, "indices", T).ravel(), minlength=12)
    np.testing.assert_array_equal(stats[:12], load)
    assert stats[-1] == T


def test_outputs_written_in_place(mixtral):
    s = moec.load(mixtral.artifact).session(threads=1)
    x = mixtral.ref(0, "x", 7)
    out = np.full((7, 72), np.nan, dtype=np.float32)
    assert s.run(x, function="layer_0", out=out) is out
    np.testing.assert_allclose(out, mixtral.ref(0, "y", 7), rtol=0, atol=TOL)
    # a view into a larger buffer is written where it lies
    big = np.zeros((10, 72), dtype=np.float32)
    s.run(x, function="layer_0", out=[big[2:9]])
    np.testing.assert_array_equal(big[2:9], out)
    assert not big[:2].any() and not big[9:].any()


def test_torch_tensors_without_copies(mixtral):
    torch = pytest.importorskip("torch")
    s = moec.load(mixtral.artifact).session(threads=2)
    x = torch.from_numpy(mixtral.ref(1, "x", 64))
    y = s.run(x, function="layer_1")
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.shape == (64, 72)
    np.testing.assert_allclose(y.numpy(), mixtral.ref(1, "y", 64), rtol=0, atol=TOL)
    out = torch.empty(64, 72)
    ptr = out.data_ptr()
    s.run(x, function="layer_1", out=out)
    assert out.data_ptr() == ptr and torch.equal(out, y)
    # a row slice of a larger tensor is contiguous: read in place
    s.run(torch.cat([x, x])[64:], function="layer_1", out=out)
    assert torch.equal(out, y)
    # what cannot be read in place is refused, saying why
    with pytest.raises(moec.Error, match="not row-major and contiguous"):
        s.run(x.t().contiguous().t(), function="layer_1")
    with pytest.raises(moec.Error, match="DLPack dtype"):
        s.run(x.double(), function="layer_1")
    with pytest.raises(moec.Error, match="input 0: .*grad"):
        s.run(x.clone().requires_grad_(), function="layer_1")


def test_bf16_inputs_and_outputs(mixtral_bf16):
    torch = pytest.importorskip("torch")
    m = moec.load(mixtral_bf16.artifact)
    assert m.inputs("layer_0")[0].dtype == "bf16"
    s = m.session(threads=2)
    x = torch.from_numpy(mixtral_bf16.ref(0, "x", 64)).to(torch.bfloat16)
    y = s.run(x, function="layer_0")
    assert y.dtype == torch.bfloat16
    ref = mixtral_bf16.ref(0, "y", 64)
    diff = np.abs(y.float().numpy() - ref)
    # act16.test's bound: the reference repeats every bf16 rounding, and a
    # different f32 summation order flips one now and then
    assert (diff > 0).sum() <= max(4, diff.size // 200)
    assert diff.max() <= 1e-2 * np.abs(ref).max()
    with pytest.raises(moec.Error, match="bf16"):
        s.run(x.float().numpy(), function="layer_0")  # f32 given for a bf16 input


def test_errors_carry_the_runtime_message(mixtral, tmp_path):
    m = moec.load(mixtral.artifact)
    s = m.session(threads=1)
    x = mixtral.ref(0, "x", 7)
    with pytest.raises(moec.Error) as e:
        s.run(x[:, :5].copy(), function="layer_0")
    assert e.value.code == "invalid argument"
    assert "input 0 ('x'): shape [7, 5], expected f32 [T, 72]" in str(e.value)
    with pytest.raises(moec.Error, match="element format 'd'"):
        s.run(x.astype(np.float64), function="layer_0")
    with pytest.raises(moec.Error, match="not C-contiguous"):
        s.run(np.asfortranarray(x), function="layer_0")
    with pytest.raises(moec.Error, match="max_tokens"):
        s.run(np.zeros((65, 72), np.float32), function="layer_0")
    with pytest.raises(moec.Error) as e:
        s.run(x)  # two functions: one must be named
    assert e.value.code == "not found" or "function" in str(e.value)
    with pytest.raises(moec.Error, match="nope"):
        s.run(x, function="nope")
    with pytest.raises(moec.Error, match="neither an array"):
        s.run([[1.0] * 72], function="layer_0")
    # outputs are checked before the run writes into them
    wrong = np.full((6, 72), 5.0, dtype=np.float32)
    with pytest.raises(moec.Error, match=r"output 0 \('y'\) is f32 \[6, 72\]; the function "
                                         r"writes f32 \[7, 72\] at T = 7"):
        s.run(x, function="layer_0", out=wrong)
    assert (wrong == 5.0).all()
    same_size = np.full((7, 72), 5, dtype=np.int32)  # as many bytes, another dtype
    with pytest.raises(moec.Error, match=r"output 0 \('y'\) is i32 \[7, 72\]"):
        s.run(x, function="layer_0", out=same_size)
    assert (same_size == 5).all()
    readonly = np.zeros((7, 72), dtype=np.float32)
    readonly.setflags(write=False)
    with pytest.raises(moec.Error, match="output 0"):
        s.run(x, function="layer_0", out=readonly)
    with pytest.raises(moec.Error, match="seed must be an int"):
        s.set_router_noise(-1)
    with pytest.raises(moec.Error) as e:
        moec.load(tmp_path / "missing.moeb")
    assert e.value.code == "not found"
    with pytest.raises(moec.Error, match="verify must be"):
        moec.load(mixtral.artifact, verify="sometimes")
    # a corrupted weight byte: refused at load, naming what failed
    bad = tmp_path / "bad.moeb"
    shutil.copy(mixtral.artifact, bad)
    with open(bad, "r+b") as f:
        f.seek(4096)
        byte = f.read(1)
        f.seek(4096)
        f.write(bytes([byte[0] ^ 0x40]))
    with pytest.raises(moec.Error) as e:
        moec.load(bad)
    assert e.value.code == "invalid artifact" and "checksum" in str(e.value)
    assert isinstance(e.value, RuntimeError)
    # the session is still usable after failed runs
    np.testing.assert_allclose(s.run(x, function="layer_0"), mixtral.ref(0, "y", 7),
                               rtol=0, atol=TOL)


def test_aux_outputs_before_a_run(mixtral):
    s = moec.load(mixtral.artifact).session(threads=1)
    assert s.last_run() is None
    with pytest.raises(moec.Error, match="no successful run"):
        s.aux_outputs()


def test_pip_install_offline(tmp_path):
    """pip installs the package from the checkout without a network
    (--no-build-isolation --no-index), reusing the build folder's module."""
    import subprocess
    import sys
    src = os.environ.get("MOEC_SRC")
    build = os.environ.get("MOEC_BUILD")
    if not src or not build:
        pytest.skip("run by ctest (MOEC_SRC, MOEC_BUILD)")
    work = tmp_path / "src"
    shutil.copytree(os.path.join(src, "python"), work,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    env = dict(os.environ, MOEC_BUILD_DIR=build)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                    "--no-deps", "--quiet", "--target", str(target), str(work)],
                   check=True, env=env, cwd=tmp_path)
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run([sys.executable, "-c", "import moec, moec.torch; print(moec.__file__)"],
                         check=True, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.strip() == str(target / "moec" / "__init__.py")


def test_router_noise(noisy, mixtral):
    """Noisy top-k gating: ignored by default; with a seed the router's logits
    are the reference's noisy ones, the same on 1 and 2 threads."""
    import moe_reference as ref
    import counter_rng
    m = moec.load(noisy.artifact)
    x = noisy.ref(0, "x", 64)
    s1, s2 = m.session(threads=1), m.session(threads=2)
    np.testing.assert_allclose(s1.run(x, function="layer_0"), noisy.ref(0, "y", 64),
                               rtol=0, atol=TOL)
    plain = s1.aux_outputs()["router_logits.0"]
    for s in (s1, s2):
        s.set_router_noise(7)
        s.run(x, function="layer_0")
    got = s1.aux_outputs()["router_logits.0"]
    np.testing.assert_array_equal(got, s2.aux_outputs()["router_logits.0"])
    want = ref.noisy_logits(x, plain, noisy.tensors["layers.0.router.noise.weight"], 7,
                            counter_rng.noise_stream("layer_0", 0))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    assert not np.allclose(got, plain)
    s1.set_router_noise(None)
    s1.run(x, function="layer_0")
    np.testing.assert_array_equal(s1.aux_outputs()["router_logits.0"], plain)
    with pytest.raises(moec.Error, match="no noisy router"):
        moec.load(mixtral.artifact).session().set_router_noise(3)


def test_ranks_of_a_sharded_artifact(mixtral, tmp_path):
    """Expert parallelism from Python: 2 ranks as threads over a LocalGroup,
    each with its own tokens (one with none), and a replica placement; the
    outputs joined are one device's, byte for byte (the CPU panel path)."""
    import threading
    from conftest import tool
    tool("moe-compile", os.path.join(os.path.dirname(mixtral.artifact), "g.mlir"),
                  "-o", tmp_path / "r2.moeb", "--max-tokens", "64", "--shard-experts=2",
                  "--shard-slots=7")
    x = mixtral.ref(1, "x", 64)
    want = moec.load(mixtral.artifact).session(threads=1).run(x, function="layer_1")
    sharded = moec.load(tmp_path / "r2.moeb")
    placement = [0, 1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10, 11, 0]
    for split in ((40, 24), (0, 64)):
        group = moec.LocalGroup(2, timeout_ms=20000)
        got, errors = [None, None], []

        def rank(r):
            try:
                s = moec.Session(sharded, threads=1, communicator=group.communicator(r),
                                 placement=placement)
                lo = 0 if r == 0 else split[0]
                got[r] = s.run(x[lo:lo + split[r]], function="layer_1")
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append("rank %d: %s" % (r, e))

        threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        np.testing.assert_array_equal(np.concatenate(got), want)
    with pytest.raises(moec.Error, match="need a communicator"):
        moec.Session(sharded)
    with pytest.raises(moec.Error, match="not a rank of the group"):
        moec.LocalGroup(2).communicator(2)
