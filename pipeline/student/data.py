"""Text datasets for the students: read documents, tokenize once into a token cache, serve packed batches.

Inputs are anything the reader stack takes (a stage's output, Parquet, JSONL, `.txt`, `datasets` folders, globs).
Documents are tokenized in file order with EOS *before* each document (so every document's first token is
predicted from a boundary, as at evaluation) and appended to a flat uint16/uint32 token file (`tokens.bin`,
nanoGPT-style) with a `tokens.json` sidecar holding token, byte and document counts.

`PackedBatches.batch(step)` is a pure function of (seed, step): sequence i of the epoch's seeded permutation
of fixed-length windows. That makes resume exact and lets a token budget D larger than the unique tokens
repeat the data, epoch by epoch, each in a new order.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

def resolve_paths(paths: Iterable[str | os.PathLike]) -> list[str]:
    """Expand inputs into document files by the rules every stage uses (`pipeline.io.expand_inputs`: a stage's
    output means its `data/`, side files are skipped, any reader format)."""
    from pipeline.io import expand_inputs

    return expand_inputs([str(p) for p in paths])


def iter_file_texts(path: str | os.PathLike, text_field: str = "text") -> Iterator[str]:
    """The documents of one input through the shared reader stack; a bad record is an error naming it (a training
    set should be clean: curate it first)."""
    from pipeline.errors import UserError
    from pipeline.readers import read_path
    from pipeline.readers.options import ReaderOptions
    from pipeline.schema import Bad

    opts = ReaderOptions(text_field=text_field, keep_columns=False)
    for item in read_path(str(path), opts):
        if isinstance(item, Bad):
            raise UserError(str(item))
        if item.html is not None:
            raise UserError(f"{path}: holds HTML pages; curate or filter it first (training reads text)")
        yield item.text


def iter_texts(paths: Iterable[str | os.PathLike], text_field: str = "text") -> Iterator[str]:
    """Documents of all inputs, in sorted file order."""
    for path in resolve_paths(paths):
        yield from iter_file_texts(path, text_field)


def _batched(it: Iterator[str], n: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for x in it:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class TokenCache:
    """A flat token file and its counts; `tokens` memory-maps it."""

    path: Path
    n_tokens: int
    n_bytes: int
    n_docs: int
    dtype: str

    @property
    def tokens(self) -> np.ndarray:
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.n_tokens,))

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / max(1, self.n_tokens)


def build_token_cache(
    paths: Iterable[str | os.PathLike],
    tokenizer,
    out_path: Path,
    text_field: str = "text",
    batch_docs: int = 512,
) -> TokenCache:
    """Tokenize all documents (EOS before each) into `out_path` (+ `.json` counts).

    Reused when it was built from the same inputs, text field and vocabulary size; rebuilt otherwise.
    """
    paths = list(paths)
    out_path = Path(out_path)
    meta_path = out_path.with_suffix(".json")
    source = {"inputs": [str(p) for p in paths], "text_field": text_field, "vocab": len(tokenizer)}
    if meta_path.exists() and out_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("source") == source:
            return TokenCache(path=out_path, **{k: meta[k] for k in ("n_tokens", "n_bytes", "n_docs", "dtype")})
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("tokenizer has no EOS token")
    dtype = "uint16" if len(tokenizer) <= 65535 else "uint32"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    n_tokens = n_bytes = n_docs = 0
    with atomic_path(out_path) as tmp, open(tmp, "wb") as f:
        for docs in _batched(iter_texts(paths, text_field), batch_docs):
            encs = backend.encode_batch(docs, add_special_tokens=False)
            ids = [eos]
            for e in encs:
                ids.extend(e.ids)
                ids.append(eos)
            ids.pop()  # EOS goes *before* each doc; the next batch starts with its own
            arr = np.asarray(ids, dtype=dtype)
            f.write(arr.tobytes())
            n_tokens += len(arr)
            n_bytes += sum(len(d.encode("utf-8")) for d in docs)
            n_docs += len(docs)
        if n_docs == 0:
            from pipeline.errors import UserError

            raise UserError(f"no documents found in {', '.join(map(str, paths))}")
    meta = {"n_tokens": n_tokens, "n_bytes": n_bytes, "n_docs": n_docs, "dtype": dtype}
    write_json_atomic({**meta, "source": source}, meta_path)
    return TokenCache(path=out_path, **meta)


class PackedBatches:
    """Fixed-length (x, y) windows over a token array; batch `step` is deterministic for a seed.

    Windows are non-overlapping slices tokens[i*T : i*T + T + 1]. Epoch e visits all windows in the order
    `np.random.default_rng([seed, e]).permutation`. With DDP, rank r of W takes global slot step*W + r.
    """

    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, seed: int = 0) -> None:
        self.tokens, self.seq_len, self.batch_size, self.seed = tokens, seq_len, batch_size, seed
        self.n_windows = (len(tokens) - 1) // seq_len
        if self.n_windows < 1:
            raise ValueError(f"only {len(tokens)} tokens: too few for one sequence of {seq_len + 1}")
        self._perm_epoch, self._perm = -1, None

    def epochs_for(self, n_sequences: int) -> float:
        """How many passes over the unique windows `n_sequences` sequences make."""
        return n_sequences / self.n_windows

    def _window(self, g: int) -> int:
        epoch, i = divmod(g, self.n_windows)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
            self._perm_epoch = epoch
        return int(self._perm[i])

    def batch(self, step: int, rank: int = 0, world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.seq_len
        first = (step * world_size + rank) * self.batch_size
        rows = np.stack(
            [self.tokens[w * t : w * t + t + 1] for w in (self._window(g) for g in range(first, first + self.batch_size))]
        ).astype(np.int64)
        xy = torch.from_numpy(rows)
        return xy[:, :-1], xy[:, 1:]


def cache_summary(cache: TokenCache) -> dict:
    d = asdict(cache)
    d["path"] = str(cache.path)
    return d


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    if path.name.endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")), encoding="utf-8")
    return open(path, encoding="utf-8")


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed record) for every non-blank line of a JSONL(.gz/.zst) file; bad JSON names file:line."""
    with _open_text(Path(path)) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                from pipeline.errors import UserError

                raise UserError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
