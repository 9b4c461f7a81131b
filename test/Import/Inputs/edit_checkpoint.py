#!/usr/bin/python3
"""Damages a checkpoint written by test/reference/make_checkpoint.py in one
precise way, for moe-import's bad-input tests.

  edit_checkpoint.py DIR drop TENSOR            remove a tensor
  edit_checkpoint.py DIR reshape TENSOR D0,D1   store a tensor with another shape (F32
                                                zeros; U8 ones stay U8)
  edit_checkpoint.py DIR fp8 TENSOR             store a tensor as F8_E4M3 bytes
  edit_checkpoint.py DIR set TENSOR I VALUE      set flat element I (a byte of an
                                                F8_E4M3 tensor, or a float: nan)
  edit_checkpoint.py DIR truncate N             cut model.safetensors to N bytes
  edit_checkpoint.py DIR header-length N        overwrite the 8-byte header length
  edit_checkpoint.py DIR config KEY JSON        set a config.json key ('-' deletes)
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "reference"))
import numpy as np  # noqa: E402
import safetensors_np as st  # noqa: E402


def main():
    d, op, *args = sys.argv[1:]
    path = os.path.join(d, "model.safetensors")
    if op == "config":
        cfg_path = os.path.join(d, "config.json")
        cfg = json.load(open(cfg_path))
        if args[1] == "-":
            cfg.pop(args[0], None)
        else:
            cfg[args[0]] = json.loads(args[1])
        json.dump(cfg, open(cfg_path, "w"), indent=2)
        return
    if op in ("truncate", "header-length"):
        blob = bytearray(open(path, "rb").read())
        if op == "truncate":
            blob = blob[: int(args[0])]
        else:
            blob[0:8] = struct.pack("<Q", int(args[0]))
        open(path, "wb").write(bytes(blob))
        return
    tensors, dtypes, meta = st.load_file_full(path)
    name = args[0]
    if op == "drop":
        del tensors[name]
        dtypes.pop(name, None)
    elif op == "reshape":
        shape = [int(s) for s in args[1].split(",")]
        if tensors[name].dtype == np.uint8 and dtypes.get(name, "U8") == "U8":
            tensors[name] = np.zeros(shape, dtype=np.uint8)  # MXFP4 blocks or scales stay U8
        else:
            tensors[name] = np.zeros(shape, dtype=np.float32)
            dtypes[name] = "F32"
    elif op == "fp8":
        tensors[name] = np.zeros(tensors[name].shape, dtype=np.uint8)
        dtypes[name] = "F8_E4M3"
    elif op == "set":
        flat = tensors[name].reshape(-1).copy()
        flat[int(args[1])] = int(args[2], 0) if flat.dtype == np.uint8 else float(args[2])
        tensors[name] = flat.reshape(tensors[name].shape)
    else:
        sys.exit("unknown edit " + op)
    st.save_file(tensors, path, metadata=meta, dtypes=dtypes)


if __name__ == "__main__":
    main()
