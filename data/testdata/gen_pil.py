# Reference outputs of Pillow for data's resize and channel conversion, and
# of transformers' ViTImageProcessor arithmetic (re-done here with numpy in
# the same dtypes, since transformers is not installed). Inputs come from a
# small LCG that the Go test reproduces. Run: /usr/bin/python3 gen_pil.py
import hashlib
import json

import numpy as np
from PIL import Image


def lcg_bytes(seed, n):
    x, out = seed, bytearray(n)
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    return bytes(out)


def image(mode, w, h, seed):
    c = 1 if mode == "L" else 3
    return Image.frombytes(mode, (w, h), lcg_bytes(seed, w * h * c))


resize_cases = []
for mode, (w, h), (ow, oh), seed, full in [
    ("L", (5, 7), (13, 11), 1, True),      # up both ways
    ("L", (13, 11), (5, 7), 2, True),      # down both ways (antialiased)
    ("RGB", (6, 4), (9, 3), 3, True),      # up in x, down in y
    ("RGB", (37, 23), (16, 16), 4, True),  # down by non-integer factors
    ("L", (28, 28), (224, 224), 5, False), # MNIST to ViT size
    ("RGB", (300, 200), (224, 224), 6, False),
    ("L", (9, 9), (9, 4), 7, True),        # only the vertical pass
]:
    out = image(mode, w, h, seed).resize((ow, oh), resample=Image.BILINEAR).tobytes()
    case = {"mode": mode, "in": [w, h], "out": [ow, oh], "seed": seed,
            "sha256": hashlib.sha256(out).hexdigest()}
    if full:
        case["pixels"] = list(out)
    resize_cases.append(case)

# RGB -> L over 4096 random pixels plus the extremes.
rgb = lcg_bytes(8, 4096 * 3) + bytes([255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
gray = Image.frombytes("RGB", (len(rgb) // 3, 1), rgb).convert("L").tobytes()

# ViTImageProcessor on an RGB 5x7 image to 8x6 with ImageNet mean/std:
# resize (PIL), rescale in float64 then float32, normalize in float32, CHW.
mean, std, factor = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 1 / 255
img = np.asarray(image("RGB", 5, 7, 9).resize((6, 8), resample=Image.BILINEAR))
x = (img.astype(np.float64) * factor).astype(np.float32)
x = (x - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
pixel_values = x.transpose(2, 0, 1).reshape(-1)

with open("pil_vectors.json", "w") as f:
    json.dump({
        "resize": resize_cases,
        "to_gray": {"seed": 8, "rgb_tail": list(rgb[4096 * 3:]), "gray": list(gray)},
        "vit": {"mode": "RGB", "in": [5, 7], "seed": 9, "size": [8, 6],
                "image_mean": mean, "image_std": std, "rescale_factor": factor,
                "pixel_values_f32_bits": [int(v) for v in pixel_values.view(np.uint32)]},
    }, f, separators=(",", ":"))
