"""Zero-shot scoring from local JSONL files: minimal pairs (BLiMP) and multiple choice.

Every scored text is prefixed with EOS (the document boundary the students were trained with).
- Minimal pairs: `{"sentence_good": ..., "sentence_bad": ...}`; correct when the good sentence's total
  log-likelihood is *strictly* higher (ties count as wrong, so a constant model scores 0, not 1).
- Multiple choice: `{"context": ..., "choices": [...], "label": int}`; the context and each choice are
  tokenized separately and concatenated; a choice's score is its summed log-likelihood divided by its
  length **in characters** (lm-eval's `acc_norm`); the prediction is the best-scoring choice (first on ties).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from pipeline.errors import UserError


def _records(path: str | Path, required: tuple[str, ...]) -> list[dict]:
    from .data import iter_jsonl

    out = []
    for lineno, rec in iter_jsonl(path):
        missing = [k for k in required if not isinstance(rec, dict) or k not in rec]
        if missing:
            raise UserError(f"{path}:{lineno}: missing field(s) {missing}")
        out.append(rec)
    if not out:
        raise UserError(f"{path}: no records")
    return out


@torch.no_grad()
def sequence_logprobs(model, seqs: list[list[int]], starts: list[int], batch_size: int = 16,
                      device: str | torch.device = "cpu") -> list[float]:
    """Sum of log p(seq[i] | seq[:i]) over i >= starts[k], for each token sequence (left-truncated to fit)."""
    max_len = model.cfg.max_seq_len + 1
    out: list[float] = []
    for b in range(0, len(seqs), batch_size):
        chunk = []
        for s, st in zip(seqs[b:b + batch_size], starts[b:b + batch_size]):
            cut = max(0, len(s) - max_len)
            chunk.append((s[cut:], max(1, st - cut)))
        width = max(len(s) for s, _ in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros(len(chunk), width - 1, dtype=torch.bool)
        for i, (s, st) in enumerate(chunk):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, st - 1:len(s) - 1] = True
        ids = ids.to(device)
        logp = F.log_softmax(model(ids[:, :-1]).float(), dim=-1)
        tok_lp = logp.gather(-1, ids[:, 1:, None]).squeeze(-1).cpu()
        out.extend((tok_lp * mask).sum(1).tolist())
    return out


def _encode(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def pairs_accuracy(model, tok, path: str | Path, batch_size: int = 16, device="cpu") -> tuple[float, int]:
    """Share of minimal pairs where the good sentence has strictly higher log-likelihood; (accuracy, n)."""
    recs = _records(path, ("sentence_good", "sentence_bad"))
    eos = tok.eos_token_id
    seqs = []
    for r in recs:
        seqs += [[eos] + _encode(tok, r["sentence_good"]), [eos] + _encode(tok, r["sentence_bad"])]
    lp = sequence_logprobs(model, seqs, [1] * len(seqs), batch_size, device)
    correct = sum(lp[2 * i] > lp[2 * i + 1] for i in range(len(recs)))
    return correct / len(recs), len(recs)


def choices_accuracy(model, tok, path: str | Path, batch_size: int = 16, device="cpu") -> tuple[float, int]:
    """Multiple-choice accuracy by per-character length-normalised log-likelihood; (accuracy, n)."""
    recs = _records(path, ("context", "choices", "label"))
    eos = tok.eos_token_id
    seqs, starts, lengths, owner = [], [], [], []
    for i, r in enumerate(recs):
        if not isinstance(r["choices"], list) or not r["choices"] or not 0 <= int(r["label"]) < len(r["choices"]):
            raise UserError(f"{path}: record {i + 1} needs a non-empty `choices` list and a valid `label`")
        ctx = [eos] + _encode(tok, r["context"])
        for c in r["choices"]:
            cont = _encode(tok, c)
            if not cont:
                raise UserError(f"{path}: record {i + 1} has an empty choice")
            seqs.append(ctx + cont)
            starts.append(len(ctx))
            lengths.append(len(c))
            owner.append(i)
    lp = sequence_logprobs(model, seqs, starts, batch_size, device)
    best: dict[int, tuple[float, int]] = {}
    counter: dict[int, int] = {}
    for score, n_chars, i in zip(lp, lengths, owner):
        j = counter.get(i, 0)
        counter[i] = j + 1
        s = score / n_chars
        if i not in best or s > best[i][0]:
            best[i] = (s, j)
    correct = sum(best[i][1] == int(r["label"]) for i, r in enumerate(recs))
    return correct / len(recs), len(recs)
