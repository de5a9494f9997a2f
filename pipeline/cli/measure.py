"""`assay train` and `assay evaluate`: the student-LM commands (registered on the main Typer app)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer


def _parse_named(items: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"expected NAME=PATH, got {item!r}", param_hint=option)
        if name in out:
            raise typer.BadParameter(f"eval set name {name!r} given twice", param_hint=option)
        out[name] = path
    return out


def _load_config_file(path: Path) -> dict:
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path}: expected a mapping of TrainConfig fields", param_hint="--config")
    return data


def register(app: typer.Typer) -> None:
    """Add the `train` and `evaluate` commands to `app`."""

    @app.command("train")
    def train_cmd(
        data: Optional[list[str]] = typer.Option(None, "--data", help="Training data: Parquet/JSONL files, dirs (a stage's data/) or globs; repeatable."),
        tokenizer: Optional[str] = typer.Option(None, "--tokenizer", help="Tokenizer dir; if it holds no tokenizer yet, one is trained on --data."),
        model: Optional[str] = typer.Option(None, "--model", help="Model size from the ladder (t0 ... t9, gpt2-small)."),
        tokens: Optional[int] = typer.Option(None, "--tokens", help="Token budget D (rounded up to whole steps)."),
        output: Optional[str] = typer.Option(None, "--output", help="Run dir: checkpoints, hf/ export, result.json. Rerun to resume."),
        config: Optional[Path] = typer.Option(None, "--config", exists=True, dir_okay=False, help="YAML/JSON file of TrainConfig fields; command-line options override it."),
        text_field: Optional[str] = typer.Option(None, "--text-field", help="Text column/field of the data (default: text)."),
        seq_len: Optional[int] = typer.Option(None, "--seq-len", help="Sequence length in tokens."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Sequences per micro-batch (per worker)."),
        grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="Micro-batches per optimizer step."),
        lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed for init and data order."),
        device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda."),
        eval_text: Optional[list[str]] = typer.Option(None, "--eval-text", help="Held-out text for a final val loss/bpb; repeatable."),
        checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Checkpoint every N steps (0: only at the end)."),
        threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads."),
        vocab_size: int = typer.Option(4096, "--vocab-size", help="Vocabulary size when a tokenizer has to be trained."),
        workers: int = typer.Option(0, "--workers", help="Ray Train DDP workers (0: single process)."),
        gpu: bool = typer.Option(False, "--gpu/--no-gpu", help="Give each Ray Train worker a GPU."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Train a student LM to a token budget and export it to OUTPUT/hf (Hugging Face Llama format)."""
        from pipeline.student.tokenizer import train_tokenizer
        from pipeline.student.train import TrainConfig, train, train_distributed

        logging.basicConfig(level=logging.INFO, format="%(message)s")
        fields = _load_config_file(config) if config else {}
        given = {"data": data, "tokenizer": tokenizer, "model": model, "tokens": tokens, "out_dir": output,
                 "text_field": text_field, "seq_len": seq_len, "batch_size": batch_size, "grad_accum": grad_accum,
                 "lr": lr, "seed": seed, "device": device, "eval_text": eval_text,
                 "checkpoint_every": checkpoint_every, "threads": threads}
        fields.update({k: v for k, v in given.items() if v not in (None, [])})
        for need in ("data", "tokenizer", "out_dir"):
            if need not in fields:
                raise typer.BadParameter(f"missing {need} (give the option or put it in --config)")
        try:
            cfg = TrainConfig(**fields)
        except Exception as e:  # pydantic's message names the bad field
            raise typer.BadParameter(str(e)) from None
        if not (Path(cfg.tokenizer) / "tokenizer.json").exists():
            typer.echo(f"training a {vocab_size}-token BPE tokenizer into {cfg.tokenizer}")
            train_tokenizer(cfg.data, Path(cfg.tokenizer), vocab_size=vocab_size, seed=cfg.seed,
                            text_field=cfg.text_field)
        result = train_distributed(cfg, workers, gpu) if workers > 0 else train(cfg, progress=not quiet)
        typer.echo(json.dumps(result.__dict__, indent=1))

    @app.command("evaluate")
    def evaluate_cmd(
        model_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="Exported model dir (a run's hf/)."),
        text: Optional[list[str]] = typer.Option(None, "--text", help="NAME=PATH held-out text (Parquet/JSONL/.txt, file or dir): loss and bpb; repeatable."),
        pairs: Optional[list[str]] = typer.Option(None, "--pairs", help="NAME=PATH minimal-pairs JSONL (sentence_good/sentence_bad); repeatable."),
        choices: Optional[list[str]] = typer.Option(None, "--choices", help="NAME=PATH multiple-choice JSONL (context/choices/label); repeatable."),
        output: Optional[Path] = typer.Option(None, "--output", help="Write rows as JSONL here (else print them)."),
        batch_size: int = typer.Option(16, "--batch-size", help="Sequences per forward pass."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
        text_field: str = typer.Option("text", "--text-field", help="Text column/field of the --text data."),
    ) -> None:
        """Score MODEL_DIR: one JSON row per (model, eval set, metric)."""
        from pipeline.student.evaluate import evaluate

        named = {"text": _parse_named(text, "--text"), "pairs": _parse_named(pairs, "--pairs"),
                 "choices": _parse_named(choices, "--choices")}
        if not any(named.values()):
            raise typer.BadParameter("give at least one --text, --pairs or --choices")
        rows = evaluate(model_dir, **named, batch_size=batch_size, device=device, text_field=text_field)
        lines = "".join(json.dumps(r) + "\n" for r in rows)
        if output:
            output.parent.mkdir(parents=True, exist_ok=True)
            tmp = output.with_name(output.name + ".tmp")
            tmp.write_text(lines)
            tmp.replace(output)
        typer.echo(lines, nl=False)
