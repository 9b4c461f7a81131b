"""moec in PyTorch models: a compiled MoE block as a ``torch.nn.Module``.

    import moec, moec.torch
    artifact = moec.load("model.moeb")          # moe-import + moe-compile of the checkpoint
    moec.torch.replace_moe_blocks(model, artifact)   # every HF sparse MoE block -> MoeBlock

``MoeBlock`` takes and returns hidden states ``[B, S, H]`` (or ``[T, H]``) and,
like Hugging Face's sparse MoE blocks (``MixtralSparseMoeBlock`` and its
kin), returns ``(hidden_states, router_logits)`` with the router's logits
``[B·S, E]`` (float32). It runs inference only: the weights are the
artifact's, and no gradient flows through it.
"""

import re

import torch

from . import Model, Session, load as _load

__all__ = ["MoeBlock", "replace_moe_blocks"]

_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def _session_of(artifact, threads):
    """A Session as given, or a new one of a Model or of an artifact's path."""
    if isinstance(artifact, Session):
        return artifact
    model = artifact if isinstance(artifact, Model) else _load(artifact)
    return model.session(threads=threads)


class MoeBlock(torch.nn.Module):
    """A compiled sparse MoE block: function ``function`` of a moec artifact
    (a path, a :class:`moec.Model` or a :class:`moec.Session`).

    ``forward(hidden_states)`` flattens the leading dimensions into tokens,
    converts them to the function's input dtype (a copy only when the dtype
    differs or the tensor is not contiguous), runs the block in chunks of at
    most ``chunk_tokens`` (default: the artifact's max_tokens), and returns
    ``(out, router_logits)`` with ``out`` in the caller's dtype and shape.
    With ``return_router_logits=False`` it returns ``out`` alone. CUDA
    tensors run through Session.enqueue (the logits copied on the GPU too),
    which takes T up to the artifact's ``--cuda-gemv-max-tokens`` (pass that
    as ``chunk_tokens``)."""

    def __init__(self, artifact, function=None, threads=0, return_router_logits=True,
                 chunk_tokens=None):
        super().__init__()
        self.session = _session_of(artifact, threads)
        model = self.session.model
        if function is None:
            names = model.functions
            if len(names) != 1:
                raise ValueError("the artifact has %d functions (%s): name the block's "
                                 "function" % (len(names), ", ".join(names)))
            function = names[0]
        self.function = function
        self.return_router_logits = return_router_logits
        inputs, outputs = model.inputs(function), model.outputs(function)
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 2:
            raise ValueError("function %r is not an MoE block [T, H] -> [T, H] (inputs %r, "
                             "outputs %r)" % (function, inputs, outputs))
        self.hidden_size = inputs[0].shape[1]
        self.dtype = _DTYPES[inputs[0].dtype]
        self.max_tokens = model.max_tokens
        # Runs on the GPU (enqueue) take T up to the artifact's
        # --cuda-gemv-max-tokens; give it here for inputs larger than that.
        self.chunk_tokens = min(chunk_tokens or model.max_tokens, model.max_tokens)
        aux = [a for a in model.aux_outputs(function) if a.name.startswith("router_logits.")]
        self._logits = aux[0].name if aux else None
        self.num_experts = aux[0].shape[1] if aux else None
        if return_router_logits and self._logits is None:
            raise ValueError("function %r has no router_logits output (a block without a "
                             "top-k router); pass return_router_logits=False" % function)

    def extra_repr(self):
        return "function=%r, hidden_size=%d, dtype=%s, max_tokens=%d" % (
            self.function, self.hidden_size, self.dtype, self.max_tokens)

    @torch.no_grad()
    def forward(self, hidden_states):
        shape, dtype = hidden_states.shape, hidden_states.dtype
        if shape[-1] != self.hidden_size:
            raise ValueError("hidden states of size %d, the block takes %d" %
                             (shape[-1], self.hidden_size))
        if hidden_states.device.type not in ("cpu", "cuda"):
            raise ValueError("MoeBlock runs CPU or CUDA tensors (the tensor is on %s)" %
                             hidden_states.device)
        x = hidden_states.detach().reshape(-1, self.hidden_size).to(self.dtype).contiguous()
        out = torch.empty_like(x)
        logits = []
        gpu = x.device.type == "cuda"
        for begin in range(0, x.shape[0], self.chunk_tokens):
            end = min(begin + self.chunk_tokens, x.shape[0])
            if gpu:  # enqueued on torch's current stream, the logits copied on the GPU
                aux = None
                if self.return_router_logits:
                    logits.append(torch.empty(end - begin, self.num_experts, device=x.device))
                    aux = {self._logits: logits[-1]}
                self.session.enqueue(x[begin:end], function=self.function, out=out[begin:end],
                                     aux=aux)
                continue
            self.session.run(x[begin:end], function=self.function, out=out[begin:end])
            if self.return_router_logits:
                logits.append(torch.from_numpy(self.session.aux_outputs()[self._logits]))
        out = out.reshape(shape).to(dtype)
        if not self.return_router_logits:
            return out
        if not logits:
            return out, torch.empty(0, self.num_experts, device=out.device)
        return out, torch.cat(logits)


def _default_match(name, module):
    """Hugging Face's sparse MoE blocks that return (hidden states, router
    logits): a class named *SparseMoeBlock (MixtralSparseMoeBlock,
    Qwen2MoeSparseMoeBlock, Qwen3MoeSparseMoeBlock, OlmoeSparseMoeBlock).
    Blocks that return the hidden states alone (DeepseekV3MoE, ...) need
    ``match`` and ``return_router_logits=False``."""
    return not isinstance(module, MoeBlock) and type(module).__name__.endswith("SparseMoeBlock")


def replace_moe_blocks(model, artifact, threads=0, match=None, function_of=None,
                       return_router_logits=True):
    """Replaces every MoE block of ``model`` (a torch.nn.Module) by a
    :class:`MoeBlock` running ``artifact``'s function for its layer, in one
    session shared by all of them. ``match(name, module)`` picks the blocks
    (default: Hugging Face's *SparseMoeBlock classes); ``function_of(name)``
    names a block's function (default: ``layer_<i>`` for a block under
    ``layers.<i>.``, as moe-import names them); ``return_router_logits`` as
    MoeBlock's (False for blocks that return the hidden states alone).
    Returns the qualified names of the replaced modules."""
    session = _session_of(artifact, threads)
    match = match or _default_match
    function_of = function_of or _layer_function
    replaced = []
    for name, module in list(model.named_modules()):
        if not name or not match(name, module):
            continue
        if any(name.startswith(r + ".") for r in replaced):
            continue
        block = MoeBlock(session, function_of(name), return_router_logits=return_router_logits)
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, block)
        replaced.append(name)
    if not replaced:
        raise ValueError("no MoE block found in the model")
    return replaced


def _layer_function(name):
    m = re.search(r"(?:^|\.)layers\.(\d+)(?:\.|$)", name)
    if not m:
        raise ValueError("cannot tell the layer of module %r (no 'layers.<i>' in its name): "
                         "pass function_of" % name)
    return "layer_%s" % m.group(1)
