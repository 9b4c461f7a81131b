"""Fixtures of the package's tests: small checkpoints written by the
independent reference (test/reference/make_checkpoint.py) and compiled by the
project's tools. ctest (python-package) sets MOEC_BIN (the tools), MOEC_SRC
(the checkout), MOEC_BUILD (the build folder) and PYTHONPATH (build/python)."""

import os
import subprocess
import sys

import numpy as np
import pytest

SRC = os.environ.get("MOEC_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("MOEC_BIN", os.path.join(SRC, "build", "bin"))
REF = os.path.join(SRC, "test", "reference")
sys.path.insert(0, REF)

import safetensors_np  # noqa: E402


def tool(name, *args):
    subprocess.run([os.path.join(BIN, name)] + [str(a) for a in args], check=True)


def checkpoint(out, arch="mixtral", extra=()):
    subprocess.run([sys.executable, os.path.join(REF, "make_checkpoint.py"), "--arch", arch,
                    "--out", str(out), "--tokens", "1,7,64", "-q"] + list(extra), check=True)


class Compiled:
    """A checkpoint, its reference outputs and its artifact."""

    def __init__(self, directory, artifact):
        self.dir = directory
        self.artifact = str(artifact)
        self.tensors = safetensors_np.load_checkpoint_f32(str(directory))

    def ref(self, layer, name, T):
        return np.load(os.path.join(self.dir, "ref", "layer_%d" % layer, "%s_T%d.npy" % (name, T)))


def compile_checkpoint(tmp, arch="mixtral", make=(), importer=(), compiler=()):
    ck = tmp / "ck"
    checkpoint(ck, arch, make)
    tool("moe-import", ck, "-o", tmp / "g.mlir", *importer)
    tool("moe-compile", tmp / "g.mlir", "-o", tmp / "m.moeb", "--max-tokens", "64", *compiler)
    return Compiled(ck, tmp / "m.moeb")


@pytest.fixture(scope="session")
def mixtral(tmp_path_factory):
    """Mixtral layout, f32, two layers (make_checkpoint's default)."""
    return compile_checkpoint(tmp_path_factory.mktemp("mixtral"))


@pytest.fixture(scope="session")
def mixtral_bf16(tmp_path_factory):
    """bf16 weights and bf16 function inputs and outputs."""
    return compile_checkpoint(tmp_path_factory.mktemp("mixtral_bf16"),
                              make=("--dtype", "bf16", "--act-dtype", "bf16"),
                              importer=("--dtype", "bf16"))


@pytest.fixture(scope="session")
def noisy(tmp_path_factory):
    """moec's generic checkpoint with a noisy router (noisy top-k gating)."""
    return compile_checkpoint(tmp_path_factory.mktemp("noisy"), arch="generic",
                              make=("--variant", "topk", "--set", "router_noise=true"))
