"""Training (loss goes down, resume == uninterrupted), evaluation metrics and the CLI, on a tiny corpus."""

import json
import math
import random

import pytest
import torch

from pipeline.errors import UserError
from pipeline.student.evaluate import evaluate, score_text
from pipeline.student.export import load_hf_dir
from pipeline.student.model import ModelConfig, Transformer
from pipeline.student.tokenizer import load_tokenizer, train_tokenizer
from pipeline.student.train import TrainConfig, lr_at, train

torch.set_num_threads(1)
NOUNS, PLACES = ("cat", "dog", "bird", "fox"), ("mat", "rug", "box", "bed")


def _corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(f"the {rng.choice(NOUNS)} sat on the {rng.choice(PLACES)}." for _ in range(4)) for _ in range(n)]


def _jsonl(path, texts):
    return _records(path, [{"text": t} for t in texts])


def _records(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    train_path = _jsonl(d / "train.jsonl", _corpus(200, 0))
    val_path = _jsonl(d / "val.jsonl", _corpus(20, 1))
    tok = train_tokenizer([train_path], d / "tok", vocab_size=300)
    return d, train_path, val_path, str(tok)


def _cfg(corpus, out, **kw):
    d, train_path, val_path, tok = corpus
    base = dict(data=[train_path], tokenizer=tok, output=str(out), model="t0", tokens=40 * 8 * 32, seq_len=32,
                batch_size=8, lr=1e-2, warmup_frac=0.1, seed=0, device="cpu", threads=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return train(_cfg(corpus, out, tokens=120 * 8 * 32, eval_text=[corpus[2]]), progress=False)


def test_lr_schedule():
    assert lr_at(0, 100, 1.0, 0.1, 0.1) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 0.1, 0.1) == pytest.approx(1.0)
    assert lr_at(99, 100, 1.0, 0.1, 0.1) == pytest.approx(0.1, abs=1e-3)
    assert lr_at(10, 100, 1.0, 0.1, 0.1) > lr_at(50, 100, 1.0, 0.1, 0.1) > lr_at(90, 100, 1.0, 0.1, 0.1)


def test_training_reduces_loss_and_reports(trained, corpus):
    r = trained
    assert r.steps == 120 and r.tokens == 120 * 8 * 32
    assert r.flops == 6 * r.non_embedding_params * r.tokens
    log_v = math.log(320)  # vocab padded to a multiple of 64
    assert r.final_train_loss < 0.5 * log_v  # from ~ln V at init
    assert r.val_loss < 0.5 * log_v and r.val_bpb > 0
    assert r.epochs == pytest.approx(r.tokens / r.unique_tokens, rel=0.05)
    # a finished run is not retrained
    again = train(_cfg(corpus, r.out_dir, tokens=120 * 8 * 32, eval_text=[corpus[2]]), progress=False)
    assert again == r


def test_resume_is_bitwise_identical(corpus, tmp_path):
    full = train(_cfg(corpus, tmp_path / "full", export=False), progress=False)
    part = train(_cfg(corpus, tmp_path / "split", export=False, checkpoint_every=7, stop_at_step=15), progress=False)
    assert part.steps == 15 and not (tmp_path / "split" / "result.json").exists()
    done = train(_cfg(corpus, tmp_path / "split", export=False), progress=False)
    assert done.steps == full.steps == 40
    a = torch.load(tmp_path / "full" / "ckpt.pt", weights_only=False)
    b = torch.load(tmp_path / "split" / "ckpt.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["losses"] == b["losses"]
    with pytest.raises(UserError, match="different run config"):
        train(_cfg(corpus, tmp_path / "split", lr=5e-3, export=False, stop_at_step=41), progress=False)


def _uniform_model_dir(tmp_path, tok_dir):
    """An exported model whose logits are all zero: every token has probability 1/V."""
    from pipeline.student.export import export_hf

    run = tmp_path / "uniform"
    load_tokenizer(tok_dir).save_pretrained(run / "tokenizer")
    cfg = ModelConfig(n_layer=1, n_head=2, d_model=16, d_ff=32, vocab_size=320, max_seq_len=16)
    m = Transformer(cfg)
    torch.nn.init.zeros_(m.embed_tokens.weight)
    torch.save({"model": m.state_dict(), "model_config": cfg.to_dict()}, run / "ckpt.pt")
    return export_hf(run, tmp_path / "uniform_hf")


def test_bpb_and_ties_by_hand(corpus, tmp_path):
    d, _, _, tok_dir = corpus
    model_dir = _uniform_model_dir(tmp_path, tok_dir)
    tok = load_tokenizer(tok_dir)
    docs = ["the cat sat on the mat.", "a fox! ünïcödé"]
    text = _jsonl(tmp_path / "held.jsonl", docs)
    pairs = _records(tmp_path / "pairs.jsonl", [{"sentence_good": "the cat sat.", "sentence_bad": "the cat sat."}])
    rows = evaluate(model_dir, text={"held": text}, pairs={"same": pairs}, batch_size=2, device="cpu")
    by = {(r["eval_set"], r["metric"]): r for r in rows}
    n_pred = sum(len(tok.encode(t)) + 1 for t in docs) - 1  # EOS before each doc; the first is not predicted
    n_bytes = sum(len(t.encode("utf-8")) for t in docs)
    assert by["held", "loss"]["value"] == pytest.approx(math.log(320), rel=1e-5)
    assert by["held", "loss"]["n"] == n_pred and by["held", "bpb"]["n"] == n_bytes
    assert by["held", "bpb"]["value"] == pytest.approx(n_pred * math.log2(320) / n_bytes, rel=1e-5)
    assert by["same", "accuracy"]["value"] == 0.0  # a tie is not a win
    assert {r["model"] for r in rows} == {str(model_dir)}


def test_trained_model_prefers_grammatical(trained, corpus, tmp_path):
    hf = f"{trained.out_dir}/hf"
    pairs = [{"sentence_good": f"the {n} sat on the {p}.", "sentence_bad": f"the {p} on sat the {n}."}
             for n in NOUNS for p in PLACES]
    choices = [{"context": f"the {n} sat on the", "choices": [" sat", f" {p}", " the"], "label": 1}
               for n in NOUNS for p in PLACES[:2]]
    rows = evaluate(hf, pairs={"order": _records(tmp_path / "p.jsonl", pairs)},
                    choices={"next": _records(tmp_path / "c.jsonl", choices)}, device="cpu")
    acc = {r["eval_set"]: r["value"] for r in rows}
    assert acc["order"] == 1.0 and acc["next"] == 1.0
    # the val loss reported by train equals a fresh evaluation of the export
    tok = load_tokenizer(hf)
    m = score_text(load_hf_dir(hf), tok, corpus[2], seq_len=32, batch_size=8)
    assert m["loss"] == pytest.approx(trained.val_loss, rel=1e-5)


def test_task_file_errors(trained, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"sentence_good": "x"}) + "\n")
    with pytest.raises(UserError, match=r"bad.jsonl:1: missing field\(s\) \['sentence_bad'\]"):
        evaluate(f"{trained.out_dir}/hf", pairs={"b": str(bad)}, device="cpu")


def test_cli_train_and_evaluate(corpus, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    runner = CliRunner()
    d, train_path, val_path, _ = corpus
    out = tmp_path / "cli_run"
    res = runner.invoke(app, ["train", "--data", train_path, "--tokenizer", str(tmp_path / "newtok"), "--model", "t0",
                              "--tokens", "2048", "--seq-len", "16", "--batch-size", "8", "--output", str(out),
                              "--vocab-size", "280", "--threads", "1", "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout[res.stdout.index("{"):])["steps"] == 16
    rows_path = tmp_path / "rows.jsonl"
    res = runner.invoke(app, ["evaluate", str(out / "hf"), "--text", f"val={val_path}", "--output", str(rows_path)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    assert [(r["eval_set"], r["metric"]) for r in rows] == [("val", "loss"), ("val", "bpb")]
    res = runner.invoke(app, ["evaluate", str(out / "hf"), "--text", "no-equals-sign"])
    assert res.exit_code != 0 and "NAME=PATH" in res.output
