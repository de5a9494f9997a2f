"""Evaluate exported students: loss and bits per byte on held-out text, plus zero-shot JSONL tasks.

Text: documents are tokenized with EOS before each (as in training), concatenated, and cut into fixed
windows of `seq_len` predicted tokens (non-overlapping, each window starts without earlier context).
loss = summed nats / predicted tokens (EOS included); bpb = summed nats / ln 2 / UTF-8 bytes of the documents —
tokenizer-independent, so arms with different tokenizers still compare.
"""

from __future__ import annotations

import math
import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.errors import UserError

from .data import iter_texts
from .tasks import choices_accuracy, pairs_accuracy


def _text_tokens(tok, paths, text_field: str) -> tuple[np.ndarray, int]:
    backend = getattr(tok, "backend_tokenizer", tok)
    ids, n_bytes = [], 0
    docs = list(iter_texts(paths, text_field))
    if not docs:
        raise UserError(f"no documents in {', '.join(map(str, paths))}")
    for enc, doc in zip(backend.encode_batch(docs, add_special_tokens=False), docs):
        ids.append(tok.eos_token_id)
        ids.extend(enc.ids)
        n_bytes += len(doc.encode("utf-8"))
    return np.asarray(ids, dtype=np.int64), n_bytes


@torch.no_grad()
def score_text(model, tok, paths, seq_len: int | None = None, batch_size: int = 16, device="cpu",
               text_field: str = "text", max_batches: int | None = None, autocast_bf16: bool = False) -> dict:
    """{"loss": nats/token, "bpb": bits/byte, "tokens": n predicted, "bytes": n bytes} over `paths`.

    With `max_batches`, only the first max_batches*batch_size windows are scored and bytes are prorated
    by the share of tokens scored.
    """
    seq_len = seq_len or model.cfg.max_seq_len
    ids, n_bytes = _text_tokens(tok, [paths] if isinstance(paths, (str, Path)) else paths, text_field)
    n_pred_total = len(ids) - 1
    if n_pred_total <= 0:
        raise UserError(f"{paths}: no text to score (empty documents)")
    starts = list(range(0, n_pred_total, seq_len))
    if max_batches is not None:
        starts = starts[: max_batches * batch_size]
    device = torch.device(device)
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if autocast_bf16 else nullcontext()
    nats, n_pred = 0.0, 0
    for b in range(0, len(starts), batch_size):
        rows = [ids[s: s + seq_len + 1] for s in starts[b: b + batch_size]]
        width = max(len(r) for r in rows)
        x = torch.zeros(len(rows), width - 1, dtype=torch.long)
        y = torch.full((len(rows), width - 1), -100, dtype=torch.long)
        for i, r in enumerate(rows):
            x[i, : len(r) - 1] = torch.from_numpy(r[:-1])
            y[i, : len(r) - 1] = torch.from_numpy(r[1:])
        x, y = x.to(device), y.to(device)
        with ctx:
            logits = model(x)
        nats += float(F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=-100, reduction="sum"))
        n_pred += int((y != -100).sum())
    bytes_scored = n_bytes * n_pred / n_pred_total
    return {"loss": nats / n_pred, "bpb": nats / math.log(2) / bytes_scored, "tokens": n_pred,
            "bytes": round(bytes_scored)}


def _device(device: str) -> torch.device:
    from .model import resolve_device

    return resolve_device(device)


def evaluate(model_dir: str | os.PathLike, text: dict[str, str] = {}, pairs: dict[str, str] = {},
             choices: dict[str, str] = {}, batch_size: int = 16, device: str = "auto",
             text_field: str = "text", seq_len: int | None = None) -> list[dict]:
    """Score an exported model dir; one row `{model, eval_set, metric, value, n}` per (eval set, metric).

    text: name -> held-out Parquet/JSONL/.txt path (metrics `loss` [n = tokens] and `bpb` [n = bytes]);
    pairs: name -> minimal-pairs JSONL (`accuracy`); choices: name -> multiple-choice JSONL (`accuracy`,
    per-character length-normalised).
    """
    from .export import load_hf_dir
    from .tokenizer import load_tokenizer

    dev = _device(device)
    model = load_hf_dir(model_dir, dev)
    tok = load_tokenizer(model_dir)
    name = str(model_dir)
    rows = []
    for set_name, path in text.items():
        m = score_text(model, tok, path, seq_len=seq_len, batch_size=batch_size, device=dev, text_field=text_field)
        rows.append({"model": name, "eval_set": set_name, "metric": "loss", "value": m["loss"], "n": m["tokens"]})
        rows.append({"model": name, "eval_set": set_name, "metric": "bpb", "value": m["bpb"], "n": m["bytes"]})
    for set_name, path in pairs.items():
        acc, n = pairs_accuracy(model, tok, path, batch_size, dev)
        rows.append({"model": name, "eval_set": set_name, "metric": "accuracy", "value": acc, "n": n})
    for set_name, path in choices.items():
        acc, n = choices_accuracy(model, tok, path, batch_size, dev)
        rows.append({"model": name, "eval_set": set_name, "metric": "accuracy", "value": acc, "n": n})
    return rows
