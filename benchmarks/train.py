"""Training throughput benchmark: assay's `train` loop vs a minimal plain-torch loop of the same model.

For each ladder size it trains the same model on the same data, same batch, same AdamW, same precision, and
reports steady-state tokens/s (the first steps excluded), the loop overhead of `train` over the plain loop, and
MFU = tokens/s * flops_per_token / peak, with flops_per_token = 6*(N + V*d) + 12*L*H*Q*T (nanoGPT's count).

  CPU:  python benchmarks/train.py --device cpu --sizes t0,t1,t2 --steps 60
        (peak = a float32 matmul measured in the same run, since a busy shared CPU has no useful datasheet peak)
  GPU:  python benchmarks/train.py --device cuda --sizes gpt2-small --steps 60 --batch-size 16 --seq-len 1024
        (bf16 autocast + torch.compile; peak 989e12 = H100 SXM dense bf16; --peak to change)

The data is a synthetic corpus of Python's own module docstrings (no downloads), written under .bench/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from pipeline.student.model import LADDER, Transformer, flops_per_token, non_embedding_params  # noqa: E402
from pipeline.student.tokenizer import load_tokenizer, train_tokenizer  # noqa: E402
from pipeline.student.train import TrainConfig, train  # noqa: E402
from pipeline.student.data import build_token_cache  # noqa: E402

H100_BF16_DENSE = 989e12


def make_corpus(work: Path, min_bytes: int = 3_000_000) -> Path:
    """Docstrings of the standard library's modules and their members, repeated to `min_bytes` (deterministic)."""
    path = work / "corpus.jsonl"
    if path.exists():
        return path
    import importlib
    import inspect

    docs = []
    skip = {"antigravity", "this", "idlelib", "turtledemo", "tkinter", "turtle"}
    for mod in sorted(n for n in sys.stdlib_module_names if not n.startswith("_") and n not in skip):
        try:
            m = importlib.import_module(mod)
        except BaseException:  # noqa: BLE001 - some modules refuse to import; skip them
            continue
        for _, obj in inspect.getmembers(m):
            doc = inspect.getdoc(obj) if callable(obj) else None
            if doc and len(doc) > 200:
                docs.append(doc)
    docs = sorted(set(docs))
    if not docs:
        raise RuntimeError("no docstrings found to build a corpus")
    with open(path, "w") as f:
        written = 0
        while written < min_bytes:
            for d in docs:
                f.write(json.dumps({"text": d}) + "\n")
                written += len(d)
    return path


def measured_cpu_peak(n: int = 1024, reps: int = 10) -> float:
    """float32 matmul FLOP/s per second of process CPU time (the best of `reps`), with torch's thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.process_time()
        a @ b
        best = min(best, time.process_time() - t)
    return 2 * n**3 / best


def plain_loop(cfg, tokens: np.ndarray, steps: int, warm: int, batch: int, seq: int, device: torch.device,
               bf16: bool, compile_: bool, lr: float) -> tuple[float, float]:
    """The minimal loop: random windows, AdamW, clip, bf16/compile on GPU.

    Returns steady-state (tokens per wall second, tokens per CPU second of this process)."""
    torch.manual_seed(0)
    model = Transformer(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=device.type == "cuda")
    fwd = torch.compile(model) if compile_ else model
    rng = np.random.default_rng(0)
    n_win = (len(tokens) - 1) // seq
    t0 = None
    for step in range(steps):
        if step == warm:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
        idx = rng.integers(0, n_win, batch)
        xy = torch.from_numpy(np.stack([tokens[i * seq: i * seq + seq + 1] for i in idx]).astype(np.int64))
        x, y = xy[:, :-1].to(device, non_blocking=True), xy[:, 1:].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = fwd(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    n = (steps - warm) * batch * seq
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--sizes", default=None, help="comma-separated ladder names (default cpu: t0,t1,t2; cuda: gpt2-small)")
    ap.add_argument("--steps", type=int, default=60, help="optimizer steps per measurement")
    ap.add_argument("--batch-size", type=int, default=None, help="default cpu 8, cuda 16")
    ap.add_argument("--seq-len", type=int, default=None, help="default cpu 256, cuda 1024")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best of each is reported")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--peak", type=float, default=None, help="peak FLOP/s for MFU (cuda default: H100 bf16 989e12)")
    ap.add_argument("--no-compile", action="store_true", help="disable torch.compile on cuda")
    ap.add_argument("--work", default=".bench/train", help="scratch dir")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()

    cuda = args.device == "cuda"
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = (args.sizes or ("gpt2-small" if cuda else "t0,t1,t2")).split(",")
    batch = args.batch_size or (16 if cuda else 8)
    seq = args.seq_len or (1024 if cuda else 256)
    compile_ = cuda and not args.no_compile
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    corpus = make_corpus(work)
    tok_dir = work / "tok"
    if not (tok_dir / "tokenizer.json").exists():
        train_tokenizer([str(corpus)], tok_dir, vocab_size=4096, sample_docs=5000)
    tok = load_tokenizer(tok_dir)
    tokens = np.asarray(build_token_cache([corpus], tok, work / "tokens.bin").tokens)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        peak, peak_note = args.peak or H100_BF16_DENSE, "H100 dense bf16" if not args.peak else "given"
    else:
        peak, peak_note = args.peak or measured_cpu_peak(), "measured fp32 matmul, CPU time" if not args.peak else "given"
    print(f"device={args.device} ({torch.cuda.get_device_name() if cuda else f'{torch.get_num_threads()} threads'}), "
          f"batch={batch} seq={seq} steps={args.steps} compile={compile_} bf16={cuda} "
          f"peak={peak:.3g} FLOP/s ({peak_note}), torch {torch.__version__}")
    rows = []
    for name in sizes:
        shape = LADDER[name]
        vocab = max(shape.vocab_size or 0, 64 * -(-len(tok) // 64))
        cfg = replace(shape, vocab_size=vocab, max_seq_len=seq)
        fpt = flops_per_token(cfg, seq)
        assay_tps, plain_tps = [], []
        for rep in range(args.repeats):
            out = work / f"run-{name}"
            shutil.rmtree(out, ignore_errors=True)
            tc = TrainConfig(data=[str(corpus)], tokenizer=str(tok_dir), output=str(out), model=cfg,
                             tokens=args.steps * batch * seq, seq_len=seq, batch_size=batch, lr=1e-3,
                             device=args.device, export=False, log_every=10, threads=args.threads,
                             compile="on" if compile_ else "off", dtype="bfloat16" if cuda else "float32")
            out.mkdir(parents=True)
            for f in ("tokens.bin", "tokens.json"):  # reuse the tokenized corpus
                shutil.copy(work / f, out / f)
            r = train(tc, progress=False)
            assay_tps.append((r.tokens_per_s, r.tokens_per_cpu_s))
            warm = min(5, args.steps // 5)
            plain_tps.append(plain_loop(cfg, tokens, args.steps, warm, batch, seq, device, cuda, compile_, 1e-3))
            print(f"  {name} rep {rep}: tok/s wall (cpu-time) assay {assay_tps[-1][0]:,.0f} ({assay_tps[-1][1]:,.0f}),"
                  f" plain {plain_tps[-1][0]:,.0f} ({plain_tps[-1][1]:,.0f}); final loss {r.final_train_loss:.3f}",
                  flush=True)
        # GPU: wall clock. CPU: this process's CPU time, which other users' load on a shared box distorts less.
        k = 0 if cuda else 1
        a, p = max(t[k] for t in assay_tps), max(t[k] for t in plain_tps)
        rows.append({"size": name, "N": non_embedding_params(cfg), "flops_per_token": fpt, "assay_tok_s": a,
                     "plain_tok_s": p, "overhead_pct": 100 * (p / a - 1), "mfu_assay": a * fpt / peak,
                     "mfu_plain": p * fpt / peak, "assay_wall_tok_s": max(t[0] for t in assay_tps),
                     "plain_wall_tok_s": max(t[0] for t in plain_tps), "clock": "wall" if cuda else "cpu-time"})
    print()
    print(f"tokens/s by {'wall clock' if cuda else 'process CPU time'}; best of {args.repeats} interleaved repeats")
    print(f"| size | N (non-emb) | FLOPs/token | assay tok/s | plain tok/s | overhead | MFU assay | MFU plain |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['N'] / 1e6:.2f}M | {r['flops_per_token'] / 1e6:.1f}M | {r['assay_tok_s']:,.0f} | "
              f"{r['plain_tok_s']:,.0f} | {r['overhead_pct']:+.1f}% | {100 * r['mfu_assay']:.1f}% | "
              f"{100 * r['mfu_plain']:.1f}% |")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": args.device, "peak": peak, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
