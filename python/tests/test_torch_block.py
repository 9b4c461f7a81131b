"""moec.torch: MoeBlock against a Hugging Face-style Mixtral block holding
the checkpoint's weights, replace_moe_blocks, and the example
examples/moe_transformer.py."""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import moec  # noqa: E402
import moec.torch  # noqa: E402

from conftest import BIN, SRC  # noqa: E402


class MixtralSparseMoeBlock(torch.nn.Module):
    """Hugging Face's MixtralSparseMoeBlock, written from its semantics."""

    def __init__(self, tensors, layer, E, k):
        super().__init__()
        p = "model.layers.%d.block_sparse_moe." % layer
        t = lambda name: torch.from_numpy(tensors[p + name].copy())  # noqa: E731
        self.gate = t("gate.weight")
        self.experts = [(t("experts.%d.w1.weight" % e), t("experts.%d.w2.weight" % e),
                         t("experts.%d.w3.weight" % e)) for e in range(E)]
        self.k = k

    def forward(self, hidden_states):
        B, S, H = hidden_states.shape
        x = hidden_states.reshape(-1, H)
        logits = x @ self.gate.T
        w = torch.softmax(logits, dim=1, dtype=torch.float)
        w, chosen = torch.topk(w, self.k, dim=-1)
        w = w / w.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for e, (w1, w2, w3) in enumerate(self.experts):
            rows, slot = torch.where(chosen == e)
            h = torch.nn.functional.silu(x[rows] @ w1.T) * (x[rows] @ w3.T)
            out.index_add_(0, rows, (h @ w2.T) * w[rows, slot, None])
        return out.reshape(B, S, H), logits


@pytest.mark.parametrize("shape", [(1, 1), (2, 7), (3, 50)])
def test_moe_block_matches_hf_block(mixtral, shape):
    """[B, S, H] in and out; 150 tokens run as chunks of max_tokens (64)."""
    block = moec.torch.MoeBlock(mixtral.artifact, function="layer_1", threads=2)
    hf = MixtralSparseMoeBlock(mixtral.tensors, 1, 12, 2)
    x = torch.randn(*shape, 72, generator=torch.Generator().manual_seed(3))
    out, logits = block(x)
    ref_out, ref_logits = hf(x)
    assert out.shape == x.shape and logits.shape == (shape[0] * shape[1], 12)
    assert torch.allclose(logits, ref_logits, rtol=0, atol=1e-5)
    assert torch.allclose(out, ref_out, rtol=0, atol=1e-5)


def test_moe_block_dtypes_and_options(mixtral):
    session = moec.load(mixtral.artifact).session(threads=1)
    block = moec.torch.MoeBlock(session, function="layer_0", return_router_logits=False)
    hf = MixtralSparseMoeBlock(mixtral.tensors, 0, 12, 2)
    x = torch.randn(4, 72, dtype=torch.float64, requires_grad=True)
    out = block(x)  # [T, H] also works; f64 in, f64 out; no gradient taken
    assert out.dtype == torch.float64 and out.shape == (4, 72) and not out.requires_grad
    assert torch.allclose(out.float(), hf(x.detach().float()[None])[0][0], rtol=0, atol=1e-5)
    assert "layer_0" in repr(block)
    empty = block(torch.zeros(0, 72))
    assert empty.shape == (0, 72)
    out0, logits0 = moec.torch.MoeBlock(session, function="layer_0")(torch.zeros(0, 72))
    assert out0.shape == (0, 72) and logits0.shape == (0, 12)
    with pytest.raises(ValueError, match="hidden states of size 71"):
        block(torch.zeros(2, 71))
    with pytest.raises(ValueError, match="2 functions"):
        moec.torch.MoeBlock(session)


def test_replace_moe_blocks(mixtral):
    class Layer(torch.nn.Module):
        def __init__(self, i):
            super().__init__()
            self.block_sparse_moe = MixtralSparseMoeBlock(mixtral.tensors, i, 12, 2)

        def forward(self, h):
            return h + self.block_sparse_moe(h)[0]

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([Layer(0), Layer(1)])

        def forward(self, h):
            for layer in self.layers:
                h = layer(h)
            return h

    model = Model()
    x = torch.randn(2, 9, 72, generator=torch.Generator().manual_seed(5))
    ref = model(x)
    names = moec.torch.replace_moe_blocks(model, mixtral.artifact, threads=2)
    assert names == ["layers.0.block_sparse_moe", "layers.1.block_sparse_moe"]
    assert isinstance(model.layers[1].block_sparse_moe, moec.torch.MoeBlock)
    assert model.layers[1].block_sparse_moe.function == "layer_1"
    assert torch.allclose(model(x), ref, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="no MoE block"):
        moec.torch.replace_moe_blocks(torch.nn.Linear(2, 2), mixtral.artifact)

    # A block that returns the hidden states alone (as DeepSeek's): matched
    # by the caller, replaced without router logits.
    class DeepseekLikeMoE(torch.nn.Module):
        def __init__(self, i):
            super().__init__()
            self.inner = MixtralSparseMoeBlock(mixtral.tensors, i, 12, 2)

        def forward(self, h):
            return self.inner(h)[0]

    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([DeepseekLikeMoE(0)])

        def forward(self, h):
            return h + self.layers[0](h)

    plain = Plain()
    ref2 = plain(x)
    names = moec.torch.replace_moe_blocks(
        plain, mixtral.artifact, match=lambda n, m: isinstance(m, DeepseekLikeMoE),
        return_router_logits=False)
    assert names == ["layers.0"] and torch.allclose(plain(x), ref2, rtol=0, atol=1e-5)


def test_example_transformer(tmp_path):
    """examples/moe_transformer.py: next-token logits of the plain PyTorch
    model and of the one with moec's blocks agree within 1e-5, and both
    decode the same tokens (the example exits 1 otherwise)."""
    env = dict(os.environ)
    out = subprocess.run([sys.executable, os.path.join(SRC, "examples", "moe_transformer.py"),
                          "--bin", BIN, "--out", str(tmp_path), "--steps", "8"],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "decoded tokens: identical" in out.stdout and "PASS" in out.stdout
    line = next(l for l in out.stdout.splitlines() if l.startswith("next-token logits"))
    diff = float(line.split("=")[1].split()[0])
    assert diff <= 1e-5
