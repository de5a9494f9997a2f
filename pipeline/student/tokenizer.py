"""Byte-level BPE tokenizer shared by all arms of an experiment (so losses compare)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from pathlib import Path

EOS = "<|endoftext|>"


def _reservoir(texts: Iterable[str], k: int, seed: int) -> list[str]:
    """A uniform sample of k documents (Algorithm R), deterministic for a seed."""
    rng = random.Random(seed)
    sample: list[str] = []
    for i, t in enumerate(texts):
        if i < k:
            sample.append(t)
        else:
            j = rng.randint(0, i)
            if j < k:
                sample[j] = t
    return sample


def train_tokenizer(
    paths: list[str],
    out_dir: Path,
    vocab_size: int = 4096,
    sample_docs: int = 20000,
    seed: int = 0,
    text_field: str = "text",
) -> Path:
    """Train a byte-level BPE on a seeded sample of `sample_docs` documents; save a `PreTrainedTokenizerFast` dir.

    The vocabulary holds the 256 byte symbols, the merges and one special token, `<|endoftext|>` (EOS, also
    used as BOS/PAD). Returns `out_dir`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from .data import iter_texts

    docs = _reservoir(iter_texts(paths, text_field), sample_docs, seed)
    if not docs:
        raise ValueError(f"no documents to train a tokenizer on in {paths}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tok.train_from_iterator(docs, trainer=trainer, length=len(docs))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS, unk_token=None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return out_dir


def load_tokenizer(path: str | os.PathLike):
    """Load a tokenizer dir written by `train_tokenizer` (or any HF fast tokenizer dir)."""
    from transformers import PreTrainedTokenizerFast

    path = Path(path)
    if not (path / "tokenizer.json").exists():
        raise FileNotFoundError(f"{path}: no tokenizer.json (train one with train_tokenizer)")
    tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    if tok.eos_token_id is None:
        raise ValueError(f"{path}: tokenizer has no EOS token")
    return tok
