# Builds the cross-check files in this directory byte by byte, following the
# safetensors format description, independently of the Go code. Values come
# from torch/numpy (torch's float32 -> bfloat16 rounding, numpy's float16).
# Run from this directory: /usr/bin/python3 gen.py
import json
import struct

import numpy as np
import torch

# Alignment order of the reference implementation's Dtype enum.
RANK = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
        "F8_E8M0", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64",
        "F64", "I64", "U64"]


def build(tensors, metadata, order=None):
    """tensors: name -> (dtype, shape, bytes). The writer's order is
    decreasing dtype rank, then name; order, if given, only changes the
    order of keys in the JSON text (any order is valid)."""
    names = sorted(tensors, key=lambda n: (-RANK.index(tensors[n][0]), n))
    offsets, off = {}, 0
    for n in names:
        offsets[n] = (off, off + len(tensors[n][2]))
        off += len(tensors[n][2])
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    for n in (order or names):
        dt, shape, _ = tensors[n]
        header[n] = {"dtype": dt, "shape": list(shape), "data_offsets": list(offsets[n])}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(tensors[n][2] for n in names)


def f32(a):
    return np.asarray(a, dtype="<f4").tobytes()


def bf16(values):
    t = torch.tensor(values, dtype=torch.float32).to(torch.bfloat16)
    return t.view(torch.int16).numpy().astype("<i2").tobytes()


# 1. What the reference writer would produce for F32 and BF16 tensors:
#    golora's Encode must reproduce it byte for byte.
ref = {
    "b.weight": ("F32", (2, 3), f32(np.arange(6, dtype=np.float32) * 0.25 - 0.5)),
    "a.bias": ("F32", (3,), f32([1.5, -2.0, 3.25])),
    "emb": ("BF16", (2, 2), bf16([1.0 / 3.0, -2.7, 1e-3, 65504.0])),
    "scalar": ("F32", (), f32([7.0])),
    "empty": ("F32", (0, 4), b""),
}
with open("reference.safetensors", "wb") as f:
    f.write(build(ref, {"format": "pt", "note": 'tab\there "quoted" \u00fcn\u00efcode \x01'}))

# 2. Mixed dtypes, header keys in a scrambled order, no metadata.
halfs = np.array([1.0, -0.5, 65504.0, 2.0 ** -24, -0.0, np.inf], dtype="<f2")
mixed = {
    "half": ("F16", (2, 3), halfs.tobytes()),
    "ids": ("I64", (2,), np.array([1, -2], dtype="<i8").tobytes()),
    "pix": ("U8", (3,), bytes([0, 128, 255])),
    "mask": ("BOOL", (2,), bytes([1, 0])),
    "w": ("BF16", (1,), bf16([-1.5])),
}
with open("mixed.safetensors", "wb") as f:
    f.write(build(mixed, None, order=["pix", "w", "half", "mask", "ids"]))
