"""Train a student LM to a token budget D: the loop a person reads in one sitting.

Warm-up + cosine LR, AdamW (decay on matrices only; fused on CUDA), gradient clipping, bf16 autocast and
`torch.compile` on GPU, checkpoint/resume, seeds. The batch for step s is a pure function of (seed, s)
(`data.PackedBatches`), so rerunning with the same `output` resumes from `ckpt.pt` and — on CPU — ends with
bitwise the same weights as an uninterrupted run. At the end the model is exported to `output/hf/`
(LlamaForCausalLM format) and `output/result.json` is written; a finished run is not retrained.

`train_distributed` runs the same loop under Ray Train's `TorchTrainer` (DDP, one process per worker).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.io import atomic_path, write_json_atomic
from pipeline.watchdog import beat

from .data import PackedBatches, build_token_cache
from .model import LADDER, ModelConfig, Transformer, non_embedding_params, resolve_device, total_params
from .tokenizer import load_tokenizer

log = logging.getLogger(__name__)

CKPT = "ckpt.pt"


class TrainConfig(BaseModel):
    """Everything that defines one training run (saved in the checkpoint and `result.json`)."""

    model_config = ConfigDict(extra="forbid")

    data: list[str]  # Parquet/JSONL files, dirs or globs
    tokenizer: str  # dir written by train_tokenizer
    output: str  # run dir: checkpoints, hf/ export, result.json
    model: str | ModelConfig = "t0"  # ladder name or an explicit shape
    tokens: int = 1_000_000  # token budget D (rounded up to whole steps)
    text_field: str = "text"
    seq_len: int = 256
    batch_size: int = 16  # sequences per micro-batch (per worker)
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 3e-3
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup_frac: float = 0.05
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 disables
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: Literal["auto", "on", "off"] = "auto"  # auto: on when CUDA
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"  # auto: bf16 autocast on CUDA
    checkpoint_every: int = 0  # steps between checkpoints; 0 = only at the end
    stop_at_step: int | None = None  # checkpoint and return early at this step (preemptible jobs)
    eval_text: list[str] | None = None  # held-out text for a final val loss / bpb
    eval_batches: int | None = 50  # cap on eval batches (None = the whole held-out set)
    log_every: int = 10
    export: bool = True
    threads: int | None = None  # torch CPU threads (None = torch's default); 1 is fastest on a busy box
    token_cache: str | None = None  # a token file shared by runs on the same data (default: output/tokens.bin)

    @field_validator("model")
    @classmethod
    def _known_size(cls, v):
        if isinstance(v, str) and v not in LADDER:
            raise ValueError(f"unknown model size {v!r}; ladder: {', '.join(LADDER)}")
        return v

    @field_validator("eval_text", mode="before")
    @classmethod
    def _listify(cls, v):
        return [v] if isinstance(v, str) else v

    def model_shape(self) -> ModelConfig:
        return LADDER[self.model] if isinstance(self.model, str) else self.model


class TrainJob(TrainConfig):
    """`assay train`: TrainConfig plus how to get a tokenizer and how to run (Ray Train DDP workers)."""

    model_config = ConfigDict(extra="forbid")
    vocab_size: int = Field(4096, ge=257, description="vocabulary size when a tokenizer has to be trained")
    workers: int = Field(0, ge=0, description="Ray Train DDP workers (0: one process, no Ray)")
    gpu: bool = Field(False, description="give each Ray Train worker a GPU")


@dataclass
class TrainResult:
    out_dir: str
    non_embedding_params: int  # N used by the scaling fits
    total_params: int
    tokens: int  # tokens actually trained on (whole steps)
    flops: float  # 6 * N * D (Kaplan/Chinchilla compute, non-embedding N)
    final_train_loss: float  # mean of the last 5% of steps (nats/token)
    val_loss: float | None  # nats/token on eval_text
    val_bpb: float | None  # bits per UTF-8 byte on eval_text
    epochs: float  # passes over the unique training tokens
    wall_s: float  # whole call, set-up and export included
    tokens_per_s: float  # steady-state training throughput (first steps excluded)
    steps: int = 0
    unique_tokens: int = 0
    tokens_per_cpu_s: float = 0.0  # same steps per second of this process's CPU time (stable on a busy CPU)


def lr_at(step: int, steps: int, lr: float, warmup_frac: float, min_lr_ratio: float) -> float:
    """Linear warm-up then cosine decay to lr * min_lr_ratio."""
    warmup = max(1, round(warmup_frac * steps))
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    floor = lr * min_lr_ratio
    return floor + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - floor)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (dim >= 2) only, fused on CUDA."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    extra = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), **extra)


def _save_atomic(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _write_json(obj, path: Path) -> None:
    write_json_atomic(obj, path)


def _progress(enabled: bool, total: int, done: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(
        TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(), disable=not enabled,
    )
    task = prog.add_task("train", total=total, completed=done, info="")
    return prog, task


def _train_loop(cfg: TrainConfig, progress: bool = True, rank: int = 0, world_size: int = 1,
                device: torch.device | None = None, wrap=None) -> TrainResult | None:
    """The training loop. `wrap` (e.g. DDP) wraps the model for the forward/backward pass; rank 0 writes files."""
    t_start = time.perf_counter()
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    device = device or resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cuda = device.type == "cuda"
    use_bf16 = cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and cuda)
    use_compile = cfg.compile == "on" or (cfg.compile == "auto" and cuda)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    tok = load_tokenizer(cfg.tokenizer)
    if rank == 0 and not (out / "tokenizer" / "tokenizer.json").exists():
        tok.save_pretrained(out / "tokenizer")
    cache = build_token_cache(cfg.data, tok, Path(cfg.token_cache or out / "tokens.bin"), cfg.text_field)
    batches = PackedBatches(cache.tokens, cfg.seq_len, cfg.batch_size, cfg.seed)

    shape = cfg.model_shape()
    vocab = max(shape.vocab_size or 0, 64 * math.ceil(len(tok) / 64))
    mcfg = ModelConfig(**{**shape.to_dict(), "vocab_size": vocab, "max_seq_len": cfg.seq_len})
    torch.manual_seed(cfg.seed)
    model = Transformer(mcfg).to(device)
    opt = make_optimizer(model, cfg, device)

    tokens_per_step = cfg.batch_size * cfg.grad_accum * cfg.seq_len * world_size
    steps = max(1, math.ceil(cfg.tokens / tokens_per_step))
    n_seq = steps * cfg.batch_size * cfg.grad_accum * world_size
    epochs = batches.epochs_for(n_seq)
    step, losses = 0, []
    ckpt_path = out / CKPT
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ck["config"] != _run_identity(cfg):
            from pipeline.errors import UserError

            raise UserError(f"{ckpt_path}: checkpoint is from a different run config; use a new output dir")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        step, losses = ck["step"], ck["losses"]
        log.info("resuming %s at step %d/%d", out, step, steps)
    if rank == 0:
        log.info("%s: N=%d, %d steps x %d tokens = %d tokens, %.2f epochs over %d unique tokens",
                 out, non_embedding_params(mcfg), steps, tokens_per_step, steps * tokens_per_step, epochs,
                 cache.n_tokens)
        if epochs > 4:
            log.warning("%s: %.1f epochs over the unique tokens; repeats beyond ~4 add little (Muennighoff et al. 2023)",
                        out, epochs)

    fwd = wrap(model) if wrap else model
    if use_compile:
        fwd = torch.compile(fwd)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    def save(at_step: int) -> None:
        if rank == 0:
            _save_atomic({"model": model.state_dict(), "optim": opt.state_dict(), "step": at_step,
                          "losses": losses, "config": _run_identity(cfg), "model_config": mcfg.to_dict()},
                         ckpt_path)

    end = steps if cfg.stop_at_step is None else min(steps, cfg.stop_at_step)
    warm = step + min(5, max(0, (end - step) // 5))  # steps excluded from the throughput timing
    t_warm, pending = None, []
    prog, task = _progress(progress and rank == 0, steps, step)
    with prog:
        model.train()
        while step < end:
            if step == warm:
                if cuda:
                    torch.cuda.synchronize()
                t_warm, c_warm = time.perf_counter(), time.process_time()
            lr = lr_at(step, steps, cfg.lr, cfg.warmup_frac, cfg.min_lr_ratio)
            for group in opt.param_groups:
                group["lr"] = lr
            loss_sum = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum):
                x, y = batches.batch(step * cfg.grad_accum + micro, rank, world_size)
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                sync = micro == cfg.grad_accum - 1 or not hasattr(fwd, "no_sync")
                with (contextlib.nullcontext() if sync else fwd.no_sync()), autocast:
                    loss = fwd(x, y) / cfg.grad_accum
                loss.backward()
                loss_sum += loss.detach()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            pending.append(loss_sum)
            step += 1
            beat()  # a point of `assay ablate` under the runner's no-progress watchdog is still moving
            if step % cfg.log_every == 0 or step == end:
                losses.extend(float(v) for v in torch.stack(pending).cpu())
                pending = []
                prog.update(task, completed=step, info=f"loss {losses[-1]:.3f} lr {lr:.2e}")
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < end:
                save(step)
        if cuda:
            torch.cuda.synchronize()
        t_end, c_end = time.perf_counter(), time.process_time()
    save(step)
    if rank != 0:
        return None
    timed_steps = step - warm if t_warm is not None else 0
    tps = timed_steps * tokens_per_step / (t_end - t_warm) if timed_steps > 0 else 0.0
    tpc = timed_steps * tokens_per_step / max(1e-9, c_end - c_warm) if timed_steps > 0 else 0.0
    if step < steps:  # stopped early: report progress, no export
        log.info("stopped at step %d/%d; rerun with the same output to resume", step, steps)
    val_loss = val_bpb = None
    if step == steps and cfg.eval_text:
        from .evaluate import score_text

        model.eval()
        m = score_text(model, tok, cfg.eval_text, seq_len=cfg.seq_len, batch_size=cfg.batch_size, device=device,
                       max_batches=cfg.eval_batches, autocast_bf16=use_bf16)
        val_loss, val_bpb = m["loss"], m["bpb"]
    if step == steps and cfg.export:
        from .export import export_hf

        export_hf(out, out / "hf")
    tail = losses[-max(1, len(losses) // 20):]
    n = non_embedding_params(mcfg)
    result = TrainResult(
        out_dir=str(out), non_embedding_params=n, total_params=total_params(mcfg), tokens=step * tokens_per_step,
        flops=6.0 * n * step * tokens_per_step, final_train_loss=sum(tail) / len(tail), val_loss=val_loss,
        val_bpb=val_bpb, epochs=batches.epochs_for(step * cfg.batch_size * cfg.grad_accum * world_size),
        wall_s=time.perf_counter() - t_start, tokens_per_s=tps, steps=step, unique_tokens=cache.n_tokens,
        tokens_per_cpu_s=tpc,
    )
    if step == steps:
        _write_json({"config": _run_identity(cfg), "result": asdict(result)}, out / "result.json")
    return result


def _run_identity(cfg: TrainConfig) -> dict:
    """The config fields that define the run's numbers (not how it is executed)."""
    d = cfg.model_dump(mode="json")
    for k in ("device", "compile", "checkpoint_every", "stop_at_step", "log_every", "export", "output", "threads",
              "token_cache"):
        d.pop(k)
    return d


def _finished(cfg: TrainConfig) -> TrainResult | None:
    path = Path(cfg.output) / "result.json"
    if path.exists():
        saved = json.loads(path.read_text())
        if saved["config"] == _run_identity(cfg):
            return TrainResult(**saved["result"])
    return None


def train(cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train (or resume, or return the finished result of) the run in `cfg.output`."""
    done = _finished(cfg)
    if done is not None:
        return done
    return _train_loop(cfg, progress=progress)


def train_distributed(cfg: TrainConfig, num_workers: int, use_gpu: bool) -> TrainResult:
    """Data-parallel training with Ray Train (`TorchTrainer`, DDP), one process per worker.

    `output` must be on storage every worker can read (a shared filesystem for multi-node). The token cache
    is built once here before the workers start; rank 0 writes checkpoints, the export and `result.json`.
    """
    import ray.train
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    done = _finished(cfg)
    if done is not None:
        return done
    build_token_cache(cfg.data, load_tokenizer(cfg.tokenizer), Path(cfg.token_cache or Path(cfg.output) / "tokens.bin"),
                      cfg.text_field)
    cfg_json = cfg.model_dump(mode="json")

    def worker(config: dict) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP
        from ray.train.torch import get_device

        ctx = ray.train.get_context()
        dev = get_device()
        ids = [dev.index] if dev.type == "cuda" else None
        _train_loop(TrainConfig(**config), progress=False, rank=ctx.get_world_rank(),
                    world_size=ctx.get_world_size(), device=dev, wrap=lambda m: DDP(m, device_ids=ids))

    storage = Path(cfg.output).resolve() / "ray_train"
    TorchTrainer(worker, train_loop_config=cfg_json,
                 scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu),
                 run_config=RunConfig(storage_path=str(storage), name="train")).fit()
    done = _finished(cfg)
    if done is None:
        raise RuntimeError(f"distributed training ended without {cfg.output}/result.json")
    shutil.rmtree(storage, ignore_errors=True)
    return done
