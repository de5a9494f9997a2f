"""A small decoder-only transformer in plain torch, laid out like Hugging Face's Llama.

Pre-norm (RMSNorm), rotary position embeddings in the rotate-half layout, causal
`F.scaled_dot_product_attention`, SwiGLU MLP, tied input/output embeddings, no biases. Parameter names
match `LlamaForCausalLM` (minus its `model.` prefix), so export is a rename-free copy.

Parameter counts: N (`non_embedding_params`) is the Kaplan/Chinchilla count — every parameter except the
token embedding matrix (which is also the tied output projection). **The scaling fits use this N.**
`flops_per_token` is the nanoGPT/PaLM training-FLOPs estimate used for MFU: 6 * (N + V*d) for the matmuls
(the tied output projection is a real V*d matmul) plus 12*L*H*Q*T for attention scores and values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a student model. `vocab_size=None` means: take it from the tokenizer at train time."""

    n_layer: int
    n_head: int
    d_model: int
    d_ff: int
    vocab_size: int | None = None
    max_seq_len: int = 1024
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}")
        if (self.d_model // self.n_head) % 2:
            raise ValueError(f"head dim {self.d_model // self.n_head} must be even for RoPE")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def with_vocab(self, vocab_size: int) -> "ModelConfig":
        return replace(self, vocab_size=vocab_size)

    def to_dict(self) -> dict:
        return asdict(self)


def _swiglu_ff(d: int, multiple: int = 8) -> int:
    """Llama's hidden size for a SwiGLU MLP: 8/3 * d rounded up to a multiple."""
    return multiple * math.ceil(8 * d / 3 / multiple)


def _cfg(n_layer: int, n_head: int, d_model: int, **kw) -> ModelConfig:
    return ModelConfig(n_layer=n_layer, n_head=n_head, d_model=d_model, d_ff=_swiglu_ff(d_model), **kw)


# Size ladder; the comment is the non-embedding parameter count N.
LADDER: dict[str, ModelConfig] = {
    "t000": _cfg(2, 2, 32),  # 0.025M (the demo's smallest rungs: 2 CPU cores)
    "t00": _cfg(2, 2, 48),  # 0.056M
    "t0": _cfg(2, 2, 64),  # 0.10M  (laptop CPU)
    "t1": _cfg(3, 3, 96),  # 0.33M
    "t2": _cfg(4, 4, 128),  # 0.79M
    "t3": _cfg(6, 6, 192),  # 2.7M
    "t4": _cfg(8, 8, 256),  # 6.3M
    "t5": _cfg(8, 6, 384),  # 14M
    "t6": _cfg(12, 8, 512),  # 38M  (GPU from here)
    "gpt2-small": _cfg(12, 12, 768, vocab_size=50304),  # 85M non-embedding, 124M total: GPT-2 small's shape
    "t7": _cfg(16, 16, 1024),  # 201M
    "t8": _cfg(24, 16, 1536),  # 680M
    "t9": _cfg(20, 16, 2048),  # 1.0B
}


def non_embedding_params(cfg: ModelConfig) -> int:
    """Kaplan/Chinchilla N: all parameters except the (tied) token embedding. Used by the scaling fits."""
    d = cfg.d_model
    per_layer = 4 * d * d + 3 * d * cfg.d_ff + 2 * d  # q,k,v,o + gate,up,down + two RMSNorm weights
    return cfg.n_layer * per_layer + d  # + final RMSNorm


def total_params(cfg: ModelConfig) -> int:
    """All parameters (the tied embedding counted once)."""
    if cfg.vocab_size is None:
        raise ValueError("total_params needs cfg.vocab_size")
    return non_embedding_params(cfg) + cfg.vocab_size * cfg.d_model


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward), nanoGPT's estimate: 6*(N + V*d) + 12*L*H*Q*T."""
    if cfg.vocab_size is None:
        raise ValueError("flops_per_token needs cfg.vocab_size")
    matmul = non_embedding_params(cfg) + cfg.vocab_size * cfg.d_model
    return 6.0 * matmul + 12.0 * cfg.n_layer * cfg.n_head * cfg.head_dim * seq_len


class RMSNorm(nn.Module):
    """RMSNorm computed in float32, as Llama does."""

    def __init__(self, d: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rope_tables(head_dim: int, seq_len: int, theta: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables (seq_len, head_dim) in Llama's rotate-half layout, float32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=device).float() / head_dim))
    t = torch.arange(seq_len, dtype=torch.int64, device=device).float()
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, H, T, Q); cos/sin: (T, Q)."""
    return (x * cos + _rotate_half(x) * sin).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        shape = (b, t, self.n_head, self.head_dim)
        q = self.q_proj(x).view(shape).transpose(1, 2)
        k = self.k_proj(x).view(shape).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)) — Llama's MLP."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.up_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down_proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    """Decoder-only LM. `forward(idx)` returns logits (B, T, V); with `targets` it returns the mean CE loss."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size is None:
            raise ValueError("ModelConfig.vocab_size must be set before building a model")
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        cos, sin = rope_tables(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2/nanoGPT init: N(0, 0.02); residual output projections scaled by 1/sqrt(2L)."""
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "norm.weight":
                nn.init.ones_(p)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.cfg.n_layer))
            else:
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.cfg.max_seq_len:
            raise ValueError(f"sequence length {t} exceeds max_seq_len {self.cfg.max_seq_len}")
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        x = self.embed_tokens(idx)
        for block in self.layers:
            x = block(x, cos, sin)
        logits = F.linear(self.norm(x), self.embed_tokens.weight)  # tied output projection
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().flatten(0, 1), targets.reshape(-1), ignore_index=-100)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        from pipeline.errors import UserError

        raise UserError(f"--device cuda: torch {torch.__version__} sees no CUDA GPU on this machine; "
                        "use --device cpu or auto")
    return torch.device(device)
