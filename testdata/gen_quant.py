#!/usr/bin/python3
"""Reference values for golora's fp16, int8 and NF4 storage (testdata/quant/).

Run with Debian's torch 1.13: /usr/bin/python3 testdata/gen_quant.py

bitsandbytes is not installed here, so this script re-implements, in plain
torch, what bitsandbytes computes on its pure-torch ("default") backend:

* quantize_4bit(quant_type="nf4", blocksize=64): the flattened tensor in
  blocks of 64 (the last may be short); absmax = max|x| per block (f32);
  scaled = clamp(x * (1/absmax), -1, 1); code = argmin |scaled - NF4| (the
  first index on ties); two codes a byte, element 2i in the high nibble.
  dequantize_4bit: NF4[code] * absmax.
* compress_statistics (double quantisation): offset = absmax.mean();
  quantize_blockwise(absmax - offset, code=create_dynamic_map(signed=True),
  blocksize=256), i.e. the same absmax/argmin scheme with the 256-value
  dynamic map; the block scale is then dynamic[q] * absmax2 + offset.
* int8_vectorwise_quant: row_stats = max|x| per row (f32);
  q = round(x * (127 / row_stats)) (torch.round: ties to even);
  int8_vectorwise_dequant: q * row_stats * 7.874015718698502e-3.
* fp16: torch's .half() (round to nearest even).

Blocks or rows of zeros are not in the inputs: bitsandbytes divides by a zero
absmax there (NaN codes), while golora stores the exact zero.

Output: quant/expected.safetensors (sorted keys), then a sha256 line.
"""

import hashlib
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_reference as ref  # noqa: E402  (its main() does not run on import)

OUT = os.path.join(HERE, "quant")

# The writer knows F32/F64/I64; the quantised storage needs these as well.
ref._DTYPES.update({
    torch.float16: ("F16", "<f2"),
    torch.uint8: ("U8", "|u1"),
    torch.int8: ("I8", "|i1"),
})
ref._NP_BY_CODE.update({code: np.dtype(npdt) for code, npdt in ref._DTYPES.values()})

NF4 = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
], dtype=torch.float32)


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    """bitsandbytes.functional.create_dynamic_map, as published."""
    data = []
    non_sign_bits = total_bits - (1 if signed else 1)
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed
                             else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
        boundaries = torch.linspace(0.1, 1, fraction_items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    if additional_items > 0:
        boundaries = torch.linspace(0.1, 1, additional_items + 1, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    assert len(data) == 2 ** total_bits
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


DYNAMIC = create_dynamic_map()


def quantize_blockwise(a, code, blocksize):
    """(codes uint8, absmax f32) as bitsandbytes' default quantize_blockwise."""
    flat = a.reshape(-1)
    n = flat.numel()
    blocks = (n + blocksize - 1) // blocksize
    absmax = torch.zeros(blocks, dtype=torch.float32)
    scaled = []
    for b in range(blocks):
        blk = flat[b * blocksize:(b + 1) * blocksize]
        absmax[b] = blk.abs().max()
        scaled.append(torch.clamp(blk * (1 / absmax[b]), -1, 1))
    scaled = torch.cat(scaled)
    idx = torch.argmin(torch.abs(scaled.view(-1, 1) - code.view(1, -1)), dim=-1).to(torch.uint8)
    return idx, absmax


def dequantize_blockwise(idx, absmax, code, blocksize):
    out = code[idx.long()]
    scale = absmax.repeat_interleave(blocksize)[: out.numel()]
    return out * scale


def nf4(a, double_quant):
    idx, absmax = quantize_blockwise(a, NF4, 64)
    if idx.numel() % 2:
        idx = torch.cat([idx, torch.zeros(1, dtype=torch.uint8)])
    packed = idx[0::2] << 4 | idx[1::2]
    res = {"packed": packed}
    scale = absmax
    if double_quant:
        offset = absmax.mean()
        q2, absmax2 = quantize_blockwise(absmax - offset, DYNAMIC, 256)
        scale = dequantize_blockwise(q2, absmax2, DYNAMIC, 256) + offset
        res.update({"qabsmax": q2, "absmax2": absmax2, "offset": offset.reshape([])})
    else:
        res["absmax"] = absmax
    codes = torch.stack([packed >> 4, packed & 15], dim=1).reshape(-1)[: a.numel()]
    res["deq"] = dequantize_blockwise(codes, scale, NF4, 64).reshape(a.shape)
    return res


def int8_rowwise(a):
    row_stats = torch.max(a.abs(), dim=1).values.float()
    q = torch.round(a * (127.0 / row_stats.unsqueeze(-1))).to(torch.int8)
    deq = q * row_stats.view(-1, 1) * 7.874015718698502e-3
    return {"q": q, "absmax": row_stats, "deq": deq}


def inputs():
    g = torch.Generator().manual_seed(10)
    out = {}
    # A weight-like matrix with outliers: 60 blocks of 64, rows of 80.
    a = torch.randn(48, 80, generator=g) * 0.02
    a[3, 5], a[17, 79], a[40, 0] = 0.9, -1.3, 0.25
    out["a"] = a
    # Odd count: 255 values, the last NF4 block short (63) and a half byte.
    out["b"] = torch.randn(5, 51, generator=g) * torch.rand(5, 1, generator=g) * 3
    # 260 blocks: two second-level blocks (256 and 4) under double quantisation.
    out["c"] = torch.randn(260, 64, generator=g) * (0.01 + torch.rand(260, 1, generator=g))
    return {k: v.float().contiguous() for k, v in out.items()}


def f16_inputs():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(1024, generator=g, dtype=torch.float64) * torch.pow(
        10.0, torch.rand(1024, generator=g, dtype=torch.float64) * 14 - 9)
    special = torch.tensor([
        65504, 65519.99, 65520, -70000, float("inf"), float("-inf"), 0.0, -0.0,
        2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -25, 2 ** -14, 2 ** -14 * (1 - 2 ** -11),
        1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049, 2051,
    ], dtype=torch.float64)
    return torch.cat([x, special]).float()


def int8_ties():
    """Rows whose scaled values fall exactly on .5: torch.round goes to even."""
    return torch.tensor([
        [127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5],
        [1, 3, 5, -7, 254, 0, -1, 2],        # absmax 254: 127/254 = 0.5 exactly
        [-3, 1.5, 0.75, 1e-30, -1e-30, 2, -2, 0.25],  # the absmax is negative
    ], dtype=torch.float32)


def f16_specials():
    """fp16 NaN, denormal and signed-zero handling in both directions.

    f32 -> f16: NaNs with payloads (quiet and, as bit patterns, signalling),
    f32 subnormals, -0. f16 -> f32: every class of half (NaNs with payloads
    are made quiet, as the F16C conversion torch uses does).
    """
    bits = np.array([0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345, 0x7fc12345, 0x7fbfffff,
                     0x00000001, 0x80000001, 0x007fffff, 0x00400000, 0x80000000, 0x33000000,
                     0x33000001, 0xb3000001], dtype=np.uint32)
    f32 = torch.from_numpy(bits.view(np.float32).copy())
    halves = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00,
                       0x7c01, 0xfc01, 0x7d23, 0x7e00, 0xfe00, 0x7fff, 0x3c00, 0x3555], dtype=np.uint16)
    h = torch.from_numpy(halves.view(np.float16).copy())
    return f32, h


def main():
    torch.set_num_threads(1)
    exp = {"nf4_code": NF4, "dynamic_map": DYNAMIC}
    for name, a in inputs().items():
        exp[f"x.{name}"] = a
        for k, v in nf4(a, True).items():
            exp[f"nf4dq.{name}.{k}"] = v
        if name == "c":  # c is there for double quantisation only (file size)
            continue
        for k, v in int8_rowwise(a).items():
            exp[f"int8.{name}.{k}"] = v
        for k, v in nf4(a, False).items():
            exp[f"nf4.{name}.{k}"] = v
        # Self-checks: errors are bounded by half the widest gap of the grid.
        d = exp[f"nf4.{name}.deq"]
        blocks = a.reshape(-1).split(64)
        bound = torch.cat([torch.full((len(b),), b.abs().max().item() * 0.16) for b in blocks]).reshape(a.shape)
        assert ((d - a).abs() <= bound).all(), name  # the widest NF4 gap is 0.30 (times absmax)
        assert ((exp[f"int8.{name}.deq"] - a).abs() <= exp[f"int8.{name}.absmax"].view(-1, 1) / 254 * 1.001).all(), name
    # torch's f32 summation order (the double-quantisation offset is a
    # mean): lengths below one vector, below and above the 4-level cascade.
    g = torch.Generator().manual_seed(12)
    for n in (5, 100, 777, 3001):
        x = (torch.rand(n, generator=g) * torch.pow(10.0, torch.rand(n, generator=g) * 4 - 2)).float()
        exp[f"sum.{n}.x"], exp[f"sum.{n}.sum"] = x, x.sum().reshape([])
    h = f16_inputs()
    exp["x.f16"] = h
    exp["f16.f16"] = h.half()
    assert torch.equal(exp["f16.f16"].float().half(), exp["f16.f16"])
    # NaN, subnormal and -0 handling (NaN != NaN: compared as bits below).
    f32, h = f16_specials()
    exp["x.f16special"], exp["f16.f16special"] = f32, f32.half()
    exp["h.f16special"], exp["f32.f16special"] = h, h.float()
    got = exp["f16.f16special"].numpy().view(np.uint16)
    assert (got[:6] & 0x7fff == 0x7e00).all() and (got[:6] >> 15 == [0, 1, 0, 1, 0, 0]).all(), got
    wide = exp["f32.f16special"].numpy().view(np.uint32)
    assert wide[10] == 0x7fc02000 and wide[12] == 0x7fe46000, [hex(v) for v in wide]  # payload kept, quiet
    # int8 rounding ties (torch.round: half to even) and a negative absmax.
    t = int8_ties()
    exp["x.t"] = t
    for k, v in int8_rowwise(t).items():
        exp[f"int8.t.{k}"] = v
    assert exp["int8.t.q"][0].tolist() == [127, 0, 2, 2, 0, -2, -2, 4], exp["int8.t.q"][0]

    ref.write_safetensors(os.path.join(OUT, "expected.safetensors"), exp)
    hsh = hashlib.sha256()
    for path in sorted(ref.WRITTEN):
        _, back = ref.read_safetensors(path)
        for k, v in exp.items():
            assert np.array_equal(back[k], v.numpy(), equal_nan=True), k
        with open(path, "rb") as f:
            hsh.update(os.path.relpath(path, HERE).encode() + b"\0" + f.read())
    print(f"{len(ref.WRITTEN)} files, sha256 of all: {hsh.hexdigest()}")


if __name__ == "__main__":
    main()
