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

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")

# The chat template an export carries, so `apply_chat_template`, vLLM's `LLM.chat` and `vllm serve`'s
# /v1/chat/completions work on a student. The student was pretrained on plain text and knows one special token
# (<|endoftext|>), so the turns are plain role-tagged text: "User: ...", "System: ...", "Assistant: ..." separated
# by a blank line; an assistant turn ends with the EOS token (what a fine-tune on chats learns to stop on);
# `add_generation_prompt` appends "Assistant:" and the model continues from there. Content must be a string.
#   [{"role": "user", "content": "Hi"}]  ->  "User: Hi\n\nAssistant:"
CHAT_TEMPLATE = (
    "{#- assay student chat template: role-tagged plain-text turns, blank line between turns, EOS after each "
    "assistant turn, 'Assistant:' as the generation prompt. -#}\n"
    "{%- for message in messages -%}\n"
    "{{- (message['role'] | capitalize) + ': ' + message['content'] -}}\n"
    "{%- if message['role'] == 'assistant' -%}{{- eos_token -}}{%- endif -%}\n"
    "{{- '\\n\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- 'Assistant:' -}}{%- endif -%}\n"
)


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
    """Write `out_dir/{config.json, generation_config.json, model.safetensors, tokenizer.json,
    tokenizer_config.json, special_tokens_map.json, chat_template.jinja}` from a training dir (with `ckpt.pt` and
    `tokenizer/`) or a checkpoint file next to a `tokenizer/` dir. The result is a usable teacher: transformers'
    `apply_chat_template`, vLLM's `LLM.chat` and `vllm serve` chat requests work on it (see `CHAT_TEMPLATE`)."""
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

    tok = load_tokenizer(tok_dir)
    eos_id = tok.eos_token_id
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().to(torch.float32).contiguous() for k, v in ck["model"].items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_config(cfg, eos_id), indent=1))
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": eos_id, "eos_token_id": eos_id, "pad_token_id": eos_id}, indent=1))
    shutil.copy2(tok_dir / "tokenizer.json", out / "tokenizer.json")
    write_tokenizer_config(out, tok, cfg.max_seq_len)
    return out


def write_tokenizer_config(out: Path, tok, max_len: int) -> None:
    """Portable tokenizer metadata next to `tokenizer.json`: a `PreTrainedTokenizerFast` `tokenizer_config.json`
    (no machine-local keys such as `is_local`/`local_files_only`, so older transformers, vLLM and converters load
    it), `special_tokens_map.json`, and the chat template (as `chat_template.jinja`, and inline in the config for
    loaders that only read it there)."""
    eos = tok.eos_token
    special = {"bos_token": tok.bos_token or eos, "eos_token": eos, "pad_token": tok.pad_token or eos}
    added = {}
    for tid, t in sorted(tok.added_tokens_decoder.items()):
        added[str(tid)] = {"content": t.content, "lstrip": t.lstrip, "normalized": t.normalized, "rstrip": t.rstrip,
                           "single_word": t.single_word, "special": t.special}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "unk_token": tok.unk_token,
        "added_tokens_decoder": added,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_len,
        "padding_side": "right",
        "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1, ensure_ascii=False))
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=1, ensure_ascii=False))
    (out / "chat_template.jinja").write_text(CHAT_TEMPLATE)


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
