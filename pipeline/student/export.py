"""Export a student to Hugging Face format (`LlamaForCausalLM`: config.json + model.safetensors + tokenizer).

The student already uses Llama's layout (rotate-half RoPE, RMSNorm eps, SwiGLU, tied embeddings, no
biases), so export renames nothing but adds the `model.` prefix. `load_hf_dir` reads such a dir back into the
plain-torch `Transformer` (used by evaluation, independent of the training checkpoint format).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from .model import ModelConfig, Transformer

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def hf_config(cfg: ModelConfig, eos_token_id: int) -> dict:
    """A LlamaConfig dict for `cfg` (rope_theta given both ways, for old and new transformers/vLLM)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.d_ff,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.n_head,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "tie_word_embeddings": True,
        "attention_bias": False,
        "mlp_bias": False,
        "initializer_range": cfg.init_std,
        "bos_token_id": eos_token_id,
        "eos_token_id": eos_token_id,
        "pad_token_id": eos_token_id,
        "torch_dtype": "float32",
        "use_cache": True,
    }


def export_hf(ckpt_or_model_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write `out_dir/{config.json, model.safetensors, tokenizer files}` from a training dir (with `ckpt.pt`
    and `tokenizer/`) or a checkpoint file next to a `tokenizer/` dir."""
    from safetensors.torch import save_file

    src = Path(ckpt_or_model_dir)
    ckpt_path = src / "ckpt.pt" if src.is_dir() else src
    if not ckpt_path.exists():
        raise FileNotFoundError(f"{ckpt_path}: no checkpoint to export")
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    cfg = ModelConfig(**ck["model_config"])
    tok_dir = ckpt_path.parent / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        raise FileNotFoundError(f"{tok_dir}: no tokenizer next to {ckpt_path}")
    from .tokenizer import load_tokenizer

    eos_id = load_tokenizer(tok_dir).eos_token_id
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().to(torch.float32).contiguous() for k, v in ck["model"].items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_config(cfg, eos_id), indent=1))
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": eos_id, "eos_token_id": eos_id, "pad_token_id": eos_id}, indent=1))
    for name in TOKENIZER_FILES:
        if (tok_dir / name).exists():
            shutil.copy2(tok_dir / name, out / name)
    return out


def model_config_from_hf(config: dict) -> ModelConfig:
    """Read a Llama config.json dict into a ModelConfig (tied embeddings, no GQA)."""
    if config.get("num_key_value_heads", config["num_attention_heads"]) != config["num_attention_heads"]:
        raise ValueError("grouped-query attention is not supported by the student model")
    rope = config.get("rope_parameters") or {}
    return ModelConfig(
        n_layer=config["num_hidden_layers"], n_head=config["num_attention_heads"], d_model=config["hidden_size"],
        d_ff=config["intermediate_size"], vocab_size=config["vocab_size"],
        max_seq_len=config["max_position_embeddings"], rope_theta=rope.get("rope_theta", config.get("rope_theta", 1e4)),
        norm_eps=config["rms_norm_eps"],
    )


def load_hf_dir(model_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Transformer:
    """Load an exported dir (config.json + model.safetensors) into the plain-torch `Transformer`, eval mode."""
    from safetensors.torch import load_file

    d = Path(model_dir)
    if not (d / "config.json").exists() or not (d / "model.safetensors").exists():
        raise FileNotFoundError(f"{d}: expected config.json and model.safetensors (an export_hf dir)")
    config = json.loads((d / "config.json").read_text())
    if not config.get("tie_word_embeddings", False):
        raise ValueError(f"{d}: untied embeddings are not supported by the student model")
    model = Transformer(model_config_from_hf(config))
    state = {k.removeprefix("model."): v for k, v in load_file(str(d / "model.safetensors")).items()
             if k != "lm_head.weight"}
    model.load_state_dict(state)
    return model.to(device).eval()
