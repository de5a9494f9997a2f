"""Arms of an ablation that are derived from other arms: mixtures at token fractions, and positive controls.

An arm is a list of data paths, or a derived spec:
- `mix: {SOURCE: fraction, ...}`: documents of each source (an arm name or a path) in those token fractions, as many
  as the sources allow without repeating any (e.g. a curated arm with 20% synthetic data);
- `control: {source: ARM, noise_fraction: 0.5}`: the positive control. The source's documents interleaved with
  documents of uniformly random tokens, `noise_fraction` of all tokens: a student trained on D tokens of it sees
  (1 - noise_fraction) D useful tokens, so its planted data multiplier against the source is 1 - noise_fraction
  (0.5: one control token is worth half a source token). Random documents are drawn from the shared tokenizer's
  word tokens (a leading space, letters only, each re-encoding to itself), so a random document of n tokens is
  exactly n tokens to the student.
Derived arms are written once into `OUTPUT/arms/<name>/` (deterministic for the seed; `_arm.json`, written last,
marks one done) and reused.
"""
from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.errors import UserError
from pipeline.io import write_json_atomic, write_parquet_atomic

ARM_DONE = "_arm.json"  # "_": input expansion skips it


class ControlSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(..., description="the arm the control is made from")
    noise_fraction: float = Field(0.5, gt=0, lt=1, description="share of the control's tokens that are noise")

    @property
    def planted(self) -> float:
        """The control's data multiplier against its source."""
        return 1.0 - self.noise_fraction


class ArmSpec(BaseModel):
    """A derived arm (a plain arm is a list of paths)."""
    model_config = ConfigDict(extra="forbid")
    mix: dict[str, float] | None = Field(None, description="source (arm or path) -> token fraction")
    control: ControlSpec | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.mix is None) == (self.control is None):
            raise ValueError("a derived arm has exactly one of mix or control")
        if self.mix is not None:
            if not self.mix or any(v <= 0 for v in self.mix.values()):
                raise ValueError("mix: give positive fractions")
            total = sum(self.mix.values())
            self.mix = {k: v / total for k, v in self.mix.items()}
        return self


def _docs(paths: list[str], text_field: str) -> list[str]:
    from pipeline.student.data import iter_texts

    return list(iter_texts(paths, text_field))


def _write_arm(out: Path, texts: list[str], meta: dict, shards: int = 4) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    for i in range(shards):
        part = texts[i::shards]
        write_parquet_atomic(pa.table({"id": [f"{out.name}-{i}-{j}" for j in range(len(part))], "text": part}),
                             out / f"part-{i:02d}.parquet")
    write_json_atomic(meta, out / ARM_DONE)  # last: marks the arm done
    return [str(out)]


def word_tokens(tok) -> list[str]:
    """Vocabulary entries that are whole words after a space and re-encode to themselves: random documents made of
    them are exactly as many tokens long as they have words."""
    backend = getattr(tok, "backend_tokenizer", tok)
    out = []
    for i in range(len(tok)):
        s = tok.decode([i])
        if len(s) > 1 and s[0] == " " and s[1:].isalpha() and backend.encode(s, add_special_tokens=False).ids == [i]:
            out.append(s)
    if len(out) < 50:
        raise UserError(f"the tokenizer has only {len(out)} word tokens: too few for a random-token control")
    return out


def make_control(out: Path, spec: ControlSpec, source_paths: list[str], tokenizer_dir: str, text_field: str,
                 seed: int) -> dict:
    """Source documents interleaved with random-token documents of `noise_fraction` of all tokens."""
    from pipeline.student.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer_dir)
    words = word_tokens(tok)
    backend = getattr(tok, "backend_tokenizer", tok)
    rng = random.Random(f"control|{seed}")
    src = _docs(source_paths, text_field)
    lengths = [len(e.ids) for e in backend.encode_batch(src, add_special_tokens=False)]
    ratio = spec.noise_fraction / (1 - spec.noise_fraction)  # noise tokens per source token
    texts, noise_tokens = [], 0
    for doc, n in zip(src, lengths):
        texts.append(doc)
        k = max(1, round(n * ratio))
        texts.append("".join(rng.choice(words) for _ in range(k)).lstrip())
        noise_tokens += k
    meta = {"kind": "control", "source": spec.source, "noise_fraction": spec.noise_fraction,
            "planted_data_multiplier": spec.planted, "source_docs": len(src), "source_tokens": sum(lengths),
            "noise_tokens": noise_tokens, "noise_vocab": len(words), "seed": seed}
    _write_arm(out, texts, meta)
    return meta


def make_mix(out: Path, mix: dict[str, list[str]], fractions: dict[str, float], tokenizer_dir: str, text_field: str,
             seed: int) -> dict:
    """Documents of each source in token fractions, as many as possible without repeating any document."""
    from pipeline.student.tokenizer import load_tokenizer

    backend = getattr(load_tokenizer(tokenizer_dir), "backend_tokenizer", None)
    rng = random.Random(f"mix|{seed}")
    pools = {}
    for name, paths in mix.items():
        docs = _docs(paths, text_field)
        rng.shuffle(docs)
        pools[name] = (docs, [len(e.ids) for e in backend.encode_batch(docs, add_special_tokens=False)])
    total = min(sum(lens) / fractions[name] for name, (_, lens) in pools.items())
    texts, used = [], {}
    for name, (docs, lens) in pools.items():
        budget, n, k = fractions[name] * total, 0, 0
        while k < len(docs) and n + lens[k] <= budget:
            n += lens[k]
            k += 1
        texts += docs[:k]
        used[name] = {"docs": k, "tokens": n, "fraction": fractions[name]}
    rng.shuffle(texts)
    meta = {"kind": "mix", "sources": used, "tokens": sum(u["tokens"] for u in used.values()), "seed": seed}
    _write_arm(out, texts, meta)
    return meta


def materialize(arms: dict, output: Path, tokenizer_dir: str, text_field: str, seed: int) -> dict[str, dict]:
    """Write every derived arm (once; reused when its `arm.json` exists); returns their metadata by name."""
    import json

    meta = {}
    for name, spec in arms.items():
        if not isinstance(spec, ArmSpec):
            continue
        out = output / "arms" / name
        if (out / ARM_DONE).exists():
            meta[name] = json.loads((out / ARM_DONE).read_text())
            continue
        if spec.control is not None:
            meta[name] = make_control(out, spec.control, paths_of(arms, spec.control.source, output), tokenizer_dir,
                                      text_field, seed)
        else:
            sources = {src: paths_of(arms, src, output) if src in arms else [src] for src in spec.mix}
            meta[name] = make_mix(out, sources, spec.mix, tokenizer_dir, text_field, seed)
    return meta


def paths_of(arms: dict, name: str, output: Path) -> list[str]:
    """The data paths of an arm (a derived arm's materialized folder)."""
    spec = arms[name]
    return [str(output / "arms" / name)] if isinstance(spec, ArmSpec) else list(spec)
