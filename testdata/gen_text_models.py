#!/usr/bin/python3
"""Generate golora's PyTorch reference data for the text models.

Run with Debian's interpreter and python3-torch (torch 1.13):

    /usr/bin/python3 testdata/gen_text_models.py

transformers and peft are not needed (nor available here): this script
re-implements in plain torch exactly what they compute, following
transformers' modeling_llama.py and modeling_bert.py (eager attention) and
PEFT's LoRA layer:

* LlamaForCausalLM: embed_tokens; per layer
      h = h + o_proj(attention(input_layernorm(h)))
      h = h + down_proj(silu(gate_proj(x)) * up_proj(x)),  x = post_attention_layernorm(h)
  model.norm, lm_head (or embed_tokens' weight when tie_word_embeddings).
  LlamaRMSNorm: w * x * rsqrt(mean(x^2) + eps). Rotary embeddings (rotate_half
  convention): inv_freq = 1 / rope_theta ** (arange(0, d, 2) / d) in float32
  (divided by factor for rope_scaling "linear"), angles = position * inv_freq
  in float32, q*cos + rotate_half(q)*sin with cos = cat(cos(angles),
  cos(angles)). Grouped-query attention: key/value head h // (heads /
  kv_heads) (repeat_kv). Scores q k^T / sqrt(head_dim), causal mask and the
  2-D attention_mask (padding keys masked), softmax, p v. head_dim from the
  config when given (q_proj is hidden -> heads*head_dim). attention_bias puts
  biases on q/k/v/o_proj, mlp_bias on the MLP. Loss as
  LlamaForCausalLM.loss_function: logits[:, :-1] against labels[:, 1:],
  cross-entropy with ignore_index -100, mean over the scored tokens.
* LlamaForSequenceClassification: the same body, the final norm, score (a
  Linear without bias) read at the last token of each sequence: position
  (input_ids == pad_token_id).argmax(-1) - 1 modulo T (transformers 4.46;
  with right padding the last attended token), cross-entropy over the batch.
* BertForSequenceClassification: word + position (absolute, 0..T-1) +
  token_type embeddings, LayerNorm; per layer (post-norm)
      a = LayerNorm(attention.output.dense(self_attention(h)) + h)
      h = LayerNorm(output.dense(gelu(intermediate.dense(a))) + a)
  with the extended attention mask ((1 - mask) * min: padding keys get
  probability 0); pooler tanh(dense(h[:, 0])); classifier; cross-entropy
  (single_label_classification, mean over the batch). Dropout is off
  (evaluation mode), so the gradients are those of model.eval().
* PEFT LoRA (tuners/lora/layer.py Linear.forward): base_layer(x) +
  lora_B(lora_A(x)) * scaling, scaling = lora_alpha / r (or / sqrt(r) with
  use_rslora); modules_to_save trains a copy of the module, saved under the
  module's own key. Adapter files in save_pretrained's layout: keys
  base_model.model.<module>.lora_A.weight [r, in] / .lora_B.weight [out, r].
  "all-linear" is written as PEFT writes it after expanding it: the list of
  the adapted modules' names (every Linear but the output layer lm_head).

All model math runs in float64 on weights and inputs that are first rounded to
their stored dtype (float32, or bfloat16 for llama-tiny-tied), so every
stored float32 result is the exact answer rounded once.

Independent checks (the script stops on the first failure):
* LLaMA attention against a second implementation: an explicit loop over
  (sequence, head, query) with the rotary embedding as a complex
  multiplication of the pairs (x[i], x[i + d/2]) and the masks as index
  conditions; the whole model run with it too;
* BERT's encoder against torch.nn.TransformerEncoderLayer(norm_first=False,
  activation="gelu") with key_padding_mask (logits and every encoder
  gradient);
* the causal-LM loss against an explicit log-softmax gather;
* gradients against fourth-order central differences along a random
  direction;
* LoRA: logits against the merged model, LoRA gradients against the chain
  rule through the merged weight (dA = s B^T dW, dB = s dW A^T);
* every written .safetensors file read back with a strict reader.
"""

import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)  # reductions in a fixed order: byte-identical reruns

# --------------------------------------------------------------------------
# safetensors: a tiny writer (F32, BF16, I64) and a strict reader
# --------------------------------------------------------------------------

_CODES = {torch.float32: ("F32", "<f4", 4), torch.bfloat16: ("BF16", "<i2", 2), torch.int64: ("I64", "<i8", 8)}
_SIZES = {code: size for code, _, size in _CODES.values()}
WRITTEN = []
WRITTEN_DATA = {}  # path -> name -> (code, shape, bytes)


def tensor_bytes(t):
    code, npdt, _ = _CODES[t.dtype]
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return code, t.numpy().astype(npdt, copy=False).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """8-byte LE header length N, N bytes of sorted JSON padded to a multiple of 8, then the data in key order."""
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    blobs, offset = [], 0
    WRITTEN_DATA[path] = {}
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        code, data = tensor_bytes(t)
        WRITTEN_DATA[path][name] = (code, list(t.shape), data)
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    WRITTEN.append(path)


def read_safetensors(path):
    """Strict reader: (metadata, name -> (code, shape, bytes)); the data section covered exactly."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    if n % 8 or 8 + n > len(raw):
        raise ValueError(f"{path}: bad header length")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    data = raw[8 + n:]
    out, spans = {}, []
    for name, info in header.items():
        s, e = info["data_offsets"]
        count = int(np.prod(info["shape"])) if info["shape"] else 1
        if not 0 <= s <= e <= len(data) or e - s != count * _SIZES[info["dtype"]]:
            raise ValueError(f"{path}: {name}: bad offsets")
        out[name] = (info["dtype"], info["shape"], data[s:e])
        spans.append((s, e))
    pos = 0
    for s, e in sorted(spans):
        if s != pos:
            raise ValueError(f"{path}: gap or overlap at {pos}")
        pos = e
    if pos != len(data):
        raise ValueError(f"{path}: trailing bytes")
    return meta, out


def write_json(path, obj, trailing_newline):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + ("\n" if trailing_newline else ""))
    WRITTEN.append(path)


def check(name, got, want, tol):
    """Fail unless max|got - want| <= tol * max(1, max|want|)."""
    got, want = got.detach().double(), want.detach().double()
    err = (got - want).abs().max().item()
    ok = err <= tol * max(1.0, want.abs().max().item())
    print(f"  check {name:<62s} max err {err:.3e} {'ok' if ok else 'FAIL'}")
    if not ok:
        sys.exit(f"check failed: {name}")


def stored(t, dtype):
    """Round to the stored dtype, return float64 for the math."""
    return t.to(dtype).double()


# --------------------------------------------------------------------------
# LLaMA
# --------------------------------------------------------------------------

LLAMA = {  # grouped-query attention (2 kv heads for 4), untied lm_head, float32
    "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": None, "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0, "rope_scaling": None, "max_position_embeddings": 64, "tie_word_embeddings": False,
    "attention_bias": False, "mlp_bias": False, "dtype": torch.float32,
}
LLAMA_TIED = {  # multi-query (1 kv head), head_dim 6 != 32/4, biases, linear rope scaling, tied, bfloat16
    "vocab_size": 64, "hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 6, "rms_norm_eps": 1e-5,
    "rope_theta": 500.0, "rope_scaling": {"factor": 2.0, "rope_type": "linear"}, "max_position_embeddings": 32,
    "tie_word_embeddings": True, "attention_bias": True, "mlp_bias": True, "dtype": torch.bfloat16,
}
LLAMA_B, LLAMA_T = 3, 7


def head_dim(c):
    return c["head_dim"] or c["hidden_size"] // c["num_attention_heads"]


def llama_config_json(c):
    """config.json as LlamaConfig.save_pretrained writes it."""
    out = {
        "architectures": ["LlamaForCausalLM"], "attention_bias": c["attention_bias"], "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": c["hidden_size"],
        "initializer_range": 0.02, "intermediate_size": c["intermediate_size"],
        "max_position_embeddings": c["max_position_embeddings"], "mlp_bias": c["mlp_bias"], "model_type": "llama",
        "num_attention_heads": c["num_attention_heads"], "num_hidden_layers": c["num_hidden_layers"],
        "num_key_value_heads": c["num_key_value_heads"], "pretraining_tp": 1, "rms_norm_eps": c["rms_norm_eps"],
        "rope_scaling": c["rope_scaling"], "rope_theta": c["rope_theta"],
        "tie_word_embeddings": c["tie_word_embeddings"],
        "torch_dtype": "bfloat16" if c["dtype"] == torch.bfloat16 else "float32",
        "transformers_version": "4.46.3", "use_cache": True, "vocab_size": c["vocab_size"],
    }
    if c["head_dim"]:
        out["head_dim"] = c["head_dim"]
    return out


def llama_linears(c):
    """(name, in, out, bias) of every Linear, in module order."""
    H, I, d = c["hidden_size"], c["intermediate_size"], head_dim(c)
    nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
    out = []
    for i in range(c["num_hidden_layers"]):
        a = f"model.layers.{i}.self_attn."
        m = f"model.layers.{i}.mlp."
        ab, mb = c["attention_bias"], c["mlp_bias"]
        out += [(a + "q_proj", H, nh * d, ab), (a + "k_proj", H, nkv * d, ab), (a + "v_proj", H, nkv * d, ab),
                (a + "o_proj", nh * d, H, ab), (m + "gate_proj", H, I, mb), (m + "up_proj", H, I, mb),
                (m + "down_proj", I, H, mb)]
    if not c["tie_word_embeddings"]:
        out.append(("lm_head", H, c["vocab_size"], False))
    return out


def init_llama(c, seed):
    """Random weights (not HF's init): Linear N(0, 1/fan_in), biases N(0, 0.01), norms 1 + N(0, 0.01),
    embeddings N(0, 1) (N(0, 0.09) when tied); rounded to the stored dtype."""
    g = torch.Generator().manual_seed(seed)
    rnd = lambda shape, std: torch.randn(shape, generator=g, dtype=torch.float64) * std  # noqa: E731
    H = c["hidden_size"]
    # tied: the embedding is the output layer too, so smaller (logits of order 1)
    P = {"model.embed_tokens.weight": rnd([c["vocab_size"], H], 0.3 if c["tie_word_embeddings"] else 1.0)}
    for i in range(c["num_hidden_layers"]):
        for n in ("input_layernorm", "post_attention_layernorm"):
            P[f"model.layers.{i}.{n}.weight"] = 1 + rnd([H], 0.1)
    P["model.norm.weight"] = 1 + rnd([H], 0.1)
    for name, fin, fout, bias in llama_linears(c):
        P[name + ".weight"] = rnd([fout, fin], 1 / math.sqrt(fin))
        if bias:
            P[name + ".bias"] = rnd([fout], 0.1)
    return {k: stored(v, c["dtype"]) for k, v in P.items()}


def rope_cos_sin(c, T):
    """cos, sin [T, head_dim] as LlamaRotaryEmbedding computes them (float32 inv_freq and angles)."""
    d = head_dim(c)
    inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    sc = c["rope_scaling"]
    if sc is not None:
        assert sc["rope_type"] == "linear"
        inv = inv / sc["factor"]
    freqs = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat([freqs, freqs], dim=-1).double()
    return emb.cos(), emb.sin(), inv


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat([-x2, x1], dim=-1)


def make_linear(P, lora):
    def lin(x, name):
        y = x @ P[name + ".weight"].t()
        if name + ".bias" in P:
            y = y + P[name + ".bias"]
        if lora and name in lora:
            A, Bm, s = lora[name]
            y = y + s * ((x @ A.t()) @ Bm.t())
        return y
    return lin


def llama_attention(x, lin, pre, c, mask):
    """Batched eager attention with repeat_kv and apply_rotary_pos_emb."""
    B, T, _ = x.shape
    nh, nkv, d = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    q = lin(x, pre + "q_proj").view(B, T, nh, d).transpose(1, 2)
    k = lin(x, pre + "k_proj").view(B, T, nkv, d).transpose(1, 2)
    v = lin(x, pre + "v_proj").view(B, T, nkv, d).transpose(1, 2)
    cos, sin, _ = rope_cos_sin(c, T)
    q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
    rep = nh // nkv
    k = k[:, :, None].expand(B, nkv, rep, T, d).reshape(B, nh, T, d)
    v = v[:, :, None].expand(B, nkv, rep, T, d).reshape(B, nh, T, d)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    allowed = torch.ones(T, T, dtype=torch.bool).tril()[None, None] & mask[:, None, None, :].bool()
    p = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    o = (p @ v).transpose(1, 2).reshape(B, T, nh * d)
    return lin(o, pre + "o_proj")


def llama_attention_loop(x, lin, pre, c, mask):
    """The same attention written out: per (sequence, head, query), rotary as complex multiplication."""
    B, T, _ = x.shape
    nh, nkv, d = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    half = d // 2
    q, k, v = lin(x, pre + "q_proj"), lin(x, pre + "k_proj"), lin(x, pre + "v_proj")
    _, _, inv = rope_cos_sin(c, T)

    def rot(z, t):  # z [d] at position t: (z[i] + i z[i+half]) * e^{i t inv[i]}
        ang = (torch.tensor(float(t)).float() * inv).double()
        zc = torch.complex(z[:half], z[half:]) * torch.polar(torch.ones_like(ang), ang)
        return torch.cat([zc.real, zc.imag])

    out = torch.zeros(B, T, nh * d, dtype=torch.float64)
    for b in range(B):
        for h in range(nh):
            hk = h // (nh // nkv)
            keys = [rot(k[b, j, hk * d:(hk + 1) * d], j) for j in range(T)]
            for i in range(T):
                qi = rot(q[b, i, h * d:(h + 1) * d], i)
                js = [j for j in range(i + 1) if mask[b, j] != 0]
                s = torch.stack([qi.dot(keys[j]) / math.sqrt(d) for j in js])
                w = torch.exp(s - s.max())
                w = w / w.sum()
                out[b, i, h * d:(h + 1) * d] = sum(w[n] * v[b, j, hk * d:(hk + 1) * d] for n, j in enumerate(js))
    return lin(out, pre + "o_proj")


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def llama_hidden(P, ids, mask, c, lora=None, attention=llama_attention):
    """LlamaModel: the last hidden states after the final norm."""
    lin = make_linear(P, lora)
    eps = c["rms_norm_eps"]
    h = P["model.embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        pre = f"model.layers.{i}."
        h = h + attention(rms_norm(h, P[pre + "input_layernorm.weight"], eps), lin, pre + "self_attn.", c, mask)
        x = rms_norm(h, P[pre + "post_attention_layernorm.weight"], eps)
        m = pre + "mlp."
        h = h + lin(F.silu(lin(x, m + "gate_proj")) * lin(x, m + "up_proj"), m + "down_proj")
    return rms_norm(h, P["model.norm.weight"], eps)


def llama_forward(P, ids, mask, c, lora=None, attention=llama_attention):
    h = llama_hidden(P, ids, mask, c, lora, attention)
    if c["tie_word_embeddings"]:
        return h @ P["model.embed_tokens.weight"].t()
    return make_linear(P, lora)(h, "lm_head")


def causal_lm_loss(logits, labels):
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)


def causal_lm_loss_gather(logits, labels):
    lp = torch.log_softmax(logits[:, :-1], dim=-1)
    tgt = labels[:, 1:]
    keep = tgt != -100
    picked = lp.gather(-1, tgt.clamp(min=0)[..., None])[..., 0]
    return -(picked * keep).sum() / keep.sum()


def llama_inputs(c, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, c["vocab_size"], (LLAMA_B, LLAMA_T), generator=g)
    mask = torch.ones(LLAMA_B, LLAMA_T, dtype=torch.int64)
    mask[1, 5:] = 0  # right padding, as golora's collator pads
    mask[2, 3:] = 0
    ids[mask == 0] = 0
    labels = ids.clone()
    labels[mask == 0] = -100
    labels[0, 2] = -100  # an unscored token inside a sequence (a masked prompt)
    return ids, mask, labels


def fd_check(name, params, loss_fn, grads, seed):
    """Fourth-order central difference of the loss along a random direction vs <grad, direction>."""
    g = torch.Generator().manual_seed(seed)
    d = {k: torch.randn(v.shape, generator=g, dtype=torch.float64) for k, v in params.items()}
    eps = 1e-4

    def at(t):
        return loss_fn({k: v + t * d[k] for k, v in params.items()}).item()

    with torch.no_grad():
        fd = (8 * (at(eps) - at(-eps)) - (at(2 * eps) - at(-2 * eps))) / (12 * eps)
    an = sum((grads[k] * d[k]).sum().item() for k in params)
    rel = abs(fd - an) / max(1e-12, abs(an))
    ok = rel < 1e-7
    print(f"  check {name + ' finite difference':<62s} rel err {rel:.3e} {'ok' if ok else 'FAIL'}")
    if not ok:
        sys.exit(f"check failed: {name} finite difference ({fd} vs {an})")


def grads_of(params, loss_fn):
    leaf = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    loss, logits = loss_fn(leaf)
    loss.backward()
    return logits.detach(), loss.detach(), {k: v.grad for k, v in leaf.items()}


def gen_llama(dirname, c, seed):
    print(f"{dirname}:")
    out = os.path.join(HERE, dirname)
    P = init_llama(c, seed)
    ids, mask, labels = llama_inputs(c, seed + 1)

    def loss_fn(p):
        logits = llama_forward(p, ids, mask, c)
        return causal_lm_loss(logits, labels), logits

    logits, loss, grads = grads_of(P, loss_fn)
    with torch.no_grad():
        check("loss vs log-softmax gather", causal_lm_loss_gather(logits, labels), loss, 1e-14)
        lin = make_linear(P, None)
        x = rms_norm(P["model.embed_tokens.weight"][ids], P["model.layers.0.input_layernorm.weight"], c["rms_norm_eps"])
        check("layer-0 attention vs per-head loop with complex rotary",
              llama_attention_loop(x, lin, "model.layers.0.self_attn.", c, mask),
              llama_attention(x, lin, "model.layers.0.self_attn.", c, mask), 1e-12)
        check("logits vs the model with the loop attention",
              llama_forward(P, ids, mask, c, attention=llama_attention_loop), logits, 1e-12)
    fd_check(dirname, P, lambda p: loss_fn(p)[0], grads, seed + 2)

    weights = {k: v.to(c["dtype"]) for k, v in P.items()}
    write_safetensors(os.path.join(out, "model.safetensors"), weights)
    write_json(os.path.join(out, "config.json"), llama_config_json(c), trailing_newline=True)
    exp = {"input_ids": ids, "attention_mask": mask, "labels": labels, "logits": logits.float(), "loss": loss.float()}
    for k, v in grads.items():
        exp["grad." + k] = v.float()
    write_safetensors(os.path.join(out, "expected.safetensors"), exp)
    print(f"  logits[0,0,:4] {[round(v, 5) for v in logits[0, 0, :4].tolist()]}  loss {loss.item():.6f}")
    return P, ids, mask, labels, logits


SEQCLS_LABELS = ["negative", "neutral", "positive"]


def gen_llama_seqcls(dirname, P, c, seed):
    """LlamaForSequenceClassification on llama-tiny's body: score (Linear, no bias) on the last token of each
    sequence, found as transformers 4.46 does: (input_ids == pad_token_id).argmax(-1) - 1, modulo T."""
    print(f"{dirname}:")
    out = os.path.join(HERE, dirname)
    g = torch.Generator().manual_seed(seed)
    S = {k: v for k, v in P.items() if k != "lm_head.weight"}
    S["score.weight"] = stored(torch.randn([len(SEQCLS_LABELS), c["hidden_size"]], generator=g, dtype=torch.float64)
                               / math.sqrt(c["hidden_size"]), torch.float32)
    ids, mask, _ = llama_inputs(c, seed + 1)
    labels = torch.tensor([2, 0, 1], dtype=torch.int64)
    pad = 0
    last = (torch.eq(ids, pad).int().argmax(-1) - 1) % ids.shape[-1]

    def forward(p):
        logits = llama_hidden(p, ids, mask, c) @ p["score.weight"].t()  # [B, T, labels], as transformers computes it
        return logits[torch.arange(ids.shape[0]), last]

    def loss_fn(p):
        logits = forward(p)
        return F.cross_entropy(logits, labels), logits

    logits, loss, grads = grads_of(S, loss_fn)
    with torch.no_grad():  # the pooled row is the last row of the attention mask
        want_last = torch.tensor([int(mask[b].nonzero().max()) for b in range(ids.shape[0])])
        check("pooled positions vs the last attended token", last.double(), want_last.double(), 0)
    fd_check(dirname, S, lambda p: loss_fn(p)[0], grads, seed + 2)
    cfg = llama_config_json(c)
    cfg["architectures"] = ["LlamaForSequenceClassification"]
    cfg["pad_token_id"] = pad
    cfg["id2label"] = {str(i): n for i, n in enumerate(SEQCLS_LABELS)}
    cfg["label2id"] = {n: i for i, n in enumerate(SEQCLS_LABELS)}
    write_safetensors(os.path.join(out, "model.safetensors"), {k: v.float() for k, v in S.items()})
    write_json(os.path.join(out, "config.json"), cfg, trailing_newline=True)
    exp = {"input_ids": ids, "attention_mask": mask, "labels": labels, "logits": logits.float(), "loss": loss.float()}
    for k, v in grads.items():
        exp["grad." + k] = v.float()
    write_safetensors(os.path.join(out, "expected.safetensors"), exp)
    print(f"  logits {[[round(v, 5) for v in r] for r in logits.tolist()]}  loss {loss.item():.6f}")


# --------------------------------------------------------------------------
# BERT
# --------------------------------------------------------------------------

BERT = {"vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 48, "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12}
BERT_LABELS = ["negative", "neutral", "positive"]
BERT_B, BERT_T = 3, 8


def bert_config_json(c):
    """config.json as BertConfig.save_pretrained writes it (dropouts at BERT's defaults)."""
    return {
        "architectures": ["BertForSequenceClassification"], "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": c["hidden_size"], "id2label": {str(i): n for i, n in enumerate(BERT_LABELS)},
        "initializer_range": 0.02, "intermediate_size": c["intermediate_size"],
        "label2id": {n: i for i, n in enumerate(BERT_LABELS)}, "layer_norm_eps": c["layer_norm_eps"],
        "max_position_embeddings": c["max_position_embeddings"], "model_type": "bert",
        "num_attention_heads": c["num_attention_heads"], "num_hidden_layers": c["num_hidden_layers"],
        "pad_token_id": 0, "position_embedding_type": "absolute", "torch_dtype": "float32",
        "transformers_version": "4.46.3", "type_vocab_size": c["type_vocab_size"], "use_cache": True,
        "vocab_size": c["vocab_size"],
    }


def bert_linears(c):
    H, I = c["hidden_size"], c["intermediate_size"]
    out = []
    for i in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        out += [(p + "attention.self.query", H, H), (p + "attention.self.key", H, H),
                (p + "attention.self.value", H, H), (p + "attention.output.dense", H, H),
                (p + "intermediate.dense", H, I), (p + "output.dense", I, H)]
    return out + [("bert.pooler.dense", H, H), ("classifier", H, len(BERT_LABELS))]


def bert_layernorms(c):
    out = ["bert.embeddings.LayerNorm"]
    for i in range(c["num_hidden_layers"]):
        out += [f"bert.encoder.layer.{i}.attention.output.LayerNorm", f"bert.encoder.layer.{i}.output.LayerNorm"]
    return out


def init_bert(c, seed):
    g = torch.Generator().manual_seed(seed)
    rnd = lambda shape, std: torch.randn(shape, generator=g, dtype=torch.float64) * std  # noqa: E731
    H = c["hidden_size"]
    P = {"bert.embeddings.word_embeddings.weight": rnd([c["vocab_size"], H], 1.0),
         "bert.embeddings.position_embeddings.weight": rnd([c["max_position_embeddings"], H], 0.5),
         "bert.embeddings.token_type_embeddings.weight": rnd([c["type_vocab_size"], H], 0.5)}
    for n in bert_layernorms(c):
        P[n + ".weight"], P[n + ".bias"] = 1 + rnd([H], 0.1), rnd([H], 0.1)
    for name, fin, fout in bert_linears(c):
        P[name + ".weight"], P[name + ".bias"] = rnd([fout, fin], 1 / math.sqrt(fin)), rnd([fout], 0.1)
    return {k: stored(v, torch.float32) for k, v in P.items()}


def bert_embeddings(P, ids, tt, c):
    T = ids.shape[1]
    e = "bert.embeddings."
    h = P[e + "word_embeddings.weight"][ids] + P[e + "position_embeddings.weight"][:T][None] + \
        P[e + "token_type_embeddings.weight"][tt]
    return F.layer_norm(h, (c["hidden_size"],), P[e + "LayerNorm.weight"], P[e + "LayerNorm.bias"], c["layer_norm_eps"])


def bert_forward(P, ids, tt, mask, c, lora=None):
    lin = make_linear(P, lora)
    H, nh = c["hidden_size"], c["num_attention_heads"]
    d = H // nh
    B, T = ids.shape
    ln = lambda x, n: F.layer_norm(x, (H,), P[n + ".weight"], P[n + ".bias"], c["layer_norm_eps"])  # noqa: E731
    h = bert_embeddings(P, ids, tt, c)
    ext = (1.0 - mask[:, None, None, :].double()) * torch.finfo(torch.float64).min
    for i in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        q, k, v = [lin(h, p + "attention.self." + n).view(B, T, nh, d).transpose(1, 2) for n in ("query", "key", "value")]
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + ext, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(B, T, H)
        a = ln(lin(ctx, p + "attention.output.dense") + h, p + "attention.output.LayerNorm")
        h = ln(lin(F.gelu(lin(a, p + "intermediate.dense")), p + "output.dense") + a, p + "output.LayerNorm")
    pooled = torch.tanh(lin(h[:, 0], "bert.pooler.dense"))
    return lin(pooled, "classifier")


def bert_forward_nn(P, ids, tt, mask, c):
    """The encoder as torch.nn.TransformerEncoderLayer (post-norm, gelu) with key_padding_mask."""
    H, nh, I = c["hidden_size"], c["num_attention_heads"], c["intermediate_size"]
    leaf = {k: v.detach().clone().requires_grad_(True) for k, v in P.items() if ".encoder." not in k}
    h = bert_embeddings(leaf, ids, tt, c)
    layers = []
    for i in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        layer = torch.nn.TransformerEncoderLayer(H, nh, dim_feedforward=I, dropout=0.0, activation="gelu",
                                                 layer_norm_eps=c["layer_norm_eps"], batch_first=True,
                                                 norm_first=False).double()
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(torch.cat([P[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]))
            layer.self_attn.in_proj_bias.copy_(torch.cat([P[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]))
            for dst, src in ((layer.self_attn.out_proj, "attention.output.dense"), (layer.linear1, "intermediate.dense"),
                             (layer.linear2, "output.dense"), (layer.norm1, "attention.output.LayerNorm"),
                             (layer.norm2, "output.LayerNorm")):
                dst.weight.copy_(P[p + src + ".weight"])
                dst.bias.copy_(P[p + src + ".bias"])
        layer.train()
        h = layer(h, src_key_padding_mask=(mask == 0))
        layers.append(layer)
    pooled = torch.tanh(h[:, 0] @ leaf["bert.pooler.dense.weight"].t() + leaf["bert.pooler.dense.bias"])
    logits = pooled @ leaf["classifier.weight"].t() + leaf["classifier.bias"]
    return logits, leaf, layers


def bert_nn_grads(leaf, layers, c):
    H = c["hidden_size"]
    g = {k: v.grad for k, v in leaf.items()}
    for i, layer in enumerate(layers):
        p = f"bert.encoder.layer.{i}."
        for j, n in enumerate(("query", "key", "value")):
            g[p + f"attention.self.{n}.weight"] = layer.self_attn.in_proj_weight.grad[j * H:(j + 1) * H]
            g[p + f"attention.self.{n}.bias"] = layer.self_attn.in_proj_bias.grad[j * H:(j + 1) * H]
        for mod, src in ((layer.self_attn.out_proj, "attention.output.dense"), (layer.linear1, "intermediate.dense"),
                         (layer.linear2, "output.dense"), (layer.norm1, "attention.output.LayerNorm"),
                         (layer.norm2, "output.LayerNorm")):
            g[p + src + ".weight"], g[p + src + ".bias"] = mod.weight.grad, mod.bias.grad
    return g


def bert_inputs(c, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, c["vocab_size"], (BERT_B, BERT_T), generator=g)
    mask = torch.ones(BERT_B, BERT_T, dtype=torch.int64)
    mask[1, 6:] = 0
    mask[2, 4:] = 0
    ids[:, 0] = 2  # [CLS]
    for b in range(BERT_B):
        n = int(mask[b].sum())
        ids[b, n - 1] = 3  # [SEP]
    ids[mask == 0] = 0  # [PAD]
    tt = torch.zeros(BERT_B, BERT_T, dtype=torch.int64)
    tt[0, 4:] = 1  # a sentence pair
    tt[1, 3:6] = 1
    labels = torch.tensor([2, 0, 1], dtype=torch.int64)
    return ids, tt, mask, labels


def gen_bert(dirname, c, seed):
    print(f"{dirname}:")
    out = os.path.join(HERE, dirname)
    P = init_bert(c, seed)
    ids, tt, mask, labels = bert_inputs(c, seed + 1)

    def loss_fn(p):
        logits = bert_forward(p, ids, tt, mask, c)
        return F.cross_entropy(logits, labels), logits

    logits, loss, grads = grads_of(P, loss_fn)
    nn_logits, leaf, layers = bert_forward_nn(P, ids, tt, mask, c)
    F.cross_entropy(nn_logits, labels).backward()
    check("logits vs nn.TransformerEncoderLayer encoder", nn_logits, logits, 1e-12)
    g_nn = bert_nn_grads(leaf, layers, c)
    check("every gradient vs nn.TransformerEncoderLayer encoder",
          torch.cat([g_nn[k].flatten() for k in sorted(P)]), torch.cat([grads[k].flatten() for k in sorted(P)]), 1e-11)
    fd_check(dirname, P, lambda p: loss_fn(p)[0], grads, seed + 2)

    write_safetensors(os.path.join(out, "model.safetensors"), {k: v.float() for k, v in P.items()})
    write_json(os.path.join(out, "config.json"), bert_config_json(c), trailing_newline=True)
    exp = {"input_ids": ids, "token_type_ids": tt, "attention_mask": mask, "labels": labels,
           "logits": logits.float(), "loss": loss.float()}
    for k, v in grads.items():
        exp["grad." + k] = v.float()
    write_safetensors(os.path.join(out, "expected.safetensors"), exp)
    print(f"  logits {[[round(v, 5) for v in r] for r in logits.tolist()]}  loss {loss.item():.6f}")
    return P, ids, tt, mask, labels, logits


# --------------------------------------------------------------------------
# PEFT LoRA on the text models
# --------------------------------------------------------------------------


def peft_config(base, targets, r, alpha, rslora, task_type, modules_to_save=None):
    """Every LoraConfig field as PEFT 0.20 saves it (PEFT-REFERENCE.md 1b); task_type set, so no auto_mapping."""
    return {
        "alora_invocation_tokens": None, "alpha_pattern": {}, "arrow_config": None, "base_model_name_or_path": base,
        "bias": "none", "corda_config": None, "ensure_weight_tying": False, "eva_config": None,
        "exclude_modules": None, "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
        "kasa_config": None, "layer_replication": None, "layers_pattern": None, "layers_to_transform": None,
        "loftq_config": {}, "lora_alpha": alpha, "lora_bias": False, "lora_dropout": 0.0, "lora_ga_config": None,
        "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": modules_to_save,
        "monteclora_config": None, "peft_type": "LORA", "peft_version": "0.20.0", "qalora_group_size": 16, "r": r,
        "rank_pattern": {}, "revision": None, "target_modules": targets, "target_parameters": None,
        "task_type": task_type, "trainable_token_indices": None, "use_bdlora": None, "use_dora": False,
        "use_qalora": False, "use_rslora": rslora, "velora_config": None,
    }


def gen_lora(dirname, base, P, linears, targets, r, alpha, rslora, task_type, forward, loss_of, base_logits,
             seed, save=None):
    """LoRA with random non-zero A and B on the Linears whose name ends in a target; save: modules_to_save."""
    print(f"{dirname}:")
    out = os.path.join(HERE, dirname)
    s = alpha / math.sqrt(r) if rslora else alpha / r
    g = torch.Generator().manual_seed(seed)
    chosen = [(n, fin, fout) for n, fin, fout, *_ in linears if n.split(".")[-1] in targets]
    train = {}
    for n, fin, fout in chosen:
        train[n + ".lora_A.weight"] = stored(0.3 * torch.randn([r, fin], generator=g, dtype=torch.float64), torch.float32)
        train[n + ".lora_B.weight"] = stored(0.3 * torch.randn([fout, r], generator=g, dtype=torch.float64), torch.float32)
    for m in save or []:  # the modules_to_save copy differs from the base module
        for k in (m + ".weight", m + ".bias"):
            train[k] = stored(P[k] + 0.2 * torch.randn(P[k].shape, generator=g, dtype=torch.float64), torch.float32)

    def fwd(tp, params=P):
        p = dict(params)
        for m in save or []:
            p[m + ".weight"], p[m + ".bias"] = tp[m + ".weight"], tp[m + ".bias"]
        return forward(p, {n: (tp[n + ".lora_A.weight"], tp[n + ".lora_B.weight"], s) for n, _, _ in chosen})

    logits, loss, grads = grads_of(train, lambda tp: (loss_of(fwd(tp)), fwd(tp)))
    # the merged model: W + s B A (float64), and its full gradients
    merged = dict(P)
    for m in save or []:
        merged[m + ".weight"], merged[m + ".bias"] = train[m + ".weight"], train[m + ".bias"]
    for n, _, _ in chosen:
        merged[n + ".weight"] = P[n + ".weight"] + s * train[n + ".lora_B.weight"] @ train[n + ".lora_A.weight"]
    ml, _, mg = grads_of(merged, lambda p: (loss_of(forward(p, None)), forward(p, None)))
    check("logits vs the merged model", ml, logits, 1e-12)
    for n, _, _ in chosen:
        A, Bm, dW = train[n + ".lora_A.weight"], train[n + ".lora_B.weight"], mg[n + ".weight"]
        check(f"{n}.lora_A grad vs s B^T dW", grads[n + ".lora_A.weight"], s * Bm.t() @ dW, 1e-11)
        check(f"{n}.lora_B grad vs s dW A^T", grads[n + ".lora_B.weight"], s * dW @ A.t(), 1e-11)
    for m in save or []:
        check(f"{m} copy grads vs merged model", grads[m + ".weight"], mg[m + ".weight"], 1e-11)
    diff = (logits - base_logits).abs().max().item()
    print(f"  adapter moves the logits by up to {diff:.3f}")
    if diff < 0.1:
        sys.exit("adapter barely changes the logits")
    fd_check(dirname, train, lambda tp: loss_of(fwd(tp)), grads, seed + 1)

    adapter = {"base_model.model." + k: v.float() for k, v in train.items()}
    write_safetensors(os.path.join(out, "adapter", "adapter_model.safetensors"), adapter)
    write_json(os.path.join(out, "adapter", "adapter_config.json"),
               peft_config(base, sorted(targets), r, alpha, rslora, task_type, save), trailing_newline=False)
    exp = {"logits": logits.float(), "loss": loss.float()}
    for k, v in grads.items():
        exp["grad." + k] = v.float()
    write_safetensors(os.path.join(out, "expected.safetensors"), exp)
    print(f"  {len(chosen)} adapted layers, scaling {s:g}, loss {loss.item():.6f}")


# --------------------------------------------------------------------------


def readback():
    print("read-back:")
    for path in WRITTEN:
        if not path.endswith(".safetensors"):
            json.load(open(path))
            continue
        meta, t = read_safetensors(path)
        if meta != {"format": "pt"}:
            sys.exit(f"{path}: metadata {meta}")
        src = WRITTEN_DATA[path]
        if set(src) != set(t) or any(tuple(src[k]) != (t[k][0], t[k][1], t[k][2]) for k in src):
            sys.exit(f"{path}: read-back differs from what was written")
        print(f"  {os.path.relpath(path, HERE):<50s} {len(t):3d} tensors {os.path.getsize(path):7d} bytes")


def main():
    P, ids, mask, labels, logits = gen_llama("llama-tiny", LLAMA, seed=11)
    gen_llama("llama-tiny-tied", LLAMA_TIED, seed=21)
    gen_llama_seqcls("llama-tiny-seqcls", P, LLAMA, seed=71)

    def llama_fwd(p, lora):
        return llama_forward(p, ids, mask, LLAMA, lora)

    lin = llama_linears(LLAMA)
    gen_lora("lora-llama", "llama-tiny", P, lin, ["q_proj", "v_proj"], 4, 8, False, "CAUSAL_LM",
             llama_fwd, lambda lg: causal_lm_loss(lg, labels), logits, seed=31)
    # all-linear: every Linear but lm_head, as PEFT expands it (the names it then saves)
    every = sorted({n.split(".")[-1] for n, *_ in lin if n != "lm_head"})
    gen_lora("lora-llama-all-linear", "llama-tiny", P, lin, every, 2, 4, True, "CAUSAL_LM",
             llama_fwd, lambda lg: causal_lm_loss(lg, labels), logits, seed=41)

    BP, bids, btt, bmask, blabels, blogits = gen_bert("bert-tiny", BERT, seed=51)
    gen_lora("lora-bert", "bert-tiny", BP, [(n, i, o) for n, i, o in bert_linears(BERT)], ["query", "value"], 4, 8,
             False, "SEQ_CLS", lambda p, lora: bert_forward(p, bids, btt, bmask, BERT, lora),
             lambda lg: F.cross_entropy(lg, blabels), blogits, seed=61, save=["classifier"])
    readback()
    total, h = 0, hashlib.sha256()
    for path in sorted(WRITTEN):
        total += os.path.getsize(path)
        h.update(os.path.relpath(path, HERE).encode() + b"\0" + open(path, "rb").read())
    print(f"{len(WRITTEN)} files, {total} bytes, sha256 of all: {h.hexdigest()}")


if __name__ == "__main__":
    main()
