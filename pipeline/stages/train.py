"""`assay train`: one student LM to a token budget, exported to OUTPUT/hf (the loop is `pipeline/student/train.py`)."""
from __future__ import annotations

import json

from pipeline.progress import log
from pipeline.stage import Opt, RunContext, StageSpec, prepare_output, register, semantic_config


RUNTIME_FIELDS = ("output", "device", "compile", "checkpoint_every", "stop_at_step", "log_every", "export", "threads",
                  "workers", "gpu", "token_cache")


def run_train(job, ctx: RunContext) -> dict:
    from pathlib import Path

    from pipeline.student.data import resolve_paths
    from pipeline.student.tokenizer import train_tokenizer
    from pipeline.student.train import TrainConfig, resolve_device, train, train_distributed

    resolve_device(job.device)  # `--device cuda` without a GPU fails here, before any work
    files = resolve_paths(job.data)
    prepare_output(job.output, "train", semantic_config(job, RUNTIME_FIELDS), files, ctx.overwrite)
    if not (Path(job.tokenizer) / "tokenizer.json").exists():
        log(f"training a {job.vocab_size}-token BPE tokenizer into {job.tokenizer}", stage="train")
        train_tokenizer(job.data, Path(job.tokenizer), vocab_size=job.vocab_size, seed=job.seed,
                        text_field=job.text_field)
    cfg = TrainConfig(**job.model_dump(exclude={"vocab_size", "workers", "gpu"}))
    if job.workers > 0:
        from pipeline.ray_env import init_ray

        init_ray(ctx.address)
        result = train_distributed(cfg, job.workers, job.gpu)
    else:
        result = train(cfg, progress=ctx.progress)
    print(json.dumps(result.__dict__, indent=1))
    return result.__dict__


register(StageSpec(
    name="train", job="pipeline.student.train:TrainJob", run=run_train, inputs=None,
    help="Train a student LM to a token budget and export it to OUTPUT/hf (Hugging Face Llama format).",
    output_help="Run directory: checkpoints, hf/ export, result.json. Rerun to resume.",
    options=(
        Opt(("--data",), "data", "Training data: any reader input (a stage's output, Parquet, JSONL, .txt, "
                                 "globs); repeatable.", multiple=True),
        Opt(("--tokenizer",), "tokenizer", "Tokenizer dir; if it holds no tokenizer yet, one is trained on --data."),
        Opt(("--model",), "model", "Model size from the ladder (t000, t00, t0 ... t9, gpt2-small)."),
        Opt(("--tokens",), "tokens", "Token budget D (rounded up to whole steps).", int),
        Opt(("--text-field",), "text_field", "Text column/field of the data (default text)."),
        Opt(("--seq-len",), "seq_len", "Sequence length in tokens.", int),
        Opt(("--batch-size",), "batch_size", "Sequences per micro-batch (per worker).", int),
        Opt(("--grad-accum",), "grad_accum", "Micro-batches per optimizer step.", int),
        Opt(("--lr",), "lr", "Peak learning rate.", float),
        Opt(("--seed",), "seed", "Seed for init and data order.", int),
        Opt(("--device",), "device", "auto | cpu | cuda."),
        Opt(("--eval-text",), "eval_text", "Held-out text for a final val loss/bpb; repeatable.", multiple=True),
        Opt(("--checkpoint-every",), "checkpoint_every", "Checkpoint every N steps (0: only at the end).", int),
        Opt(("--threads",), "threads", "torch CPU threads.", int),
        Opt(("--vocab-size",), "vocab_size", "Vocabulary size when a tokenizer has to be trained.", int),
        Opt(("--workers",), "workers", "Ray Train DDP workers (0: single process).", int),
        Opt(("--gpu",), "gpu", "Give each Ray Train worker a GPU.", flag=True),
    ),
))
