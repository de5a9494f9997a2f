"""Tokenizer and data packing for the students."""

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import UserError
from pipeline.student.data import PackedBatches, build_token_cache, iter_texts, resolve_paths
from pipeline.student.tokenizer import EOS, load_tokenizer, train_tokenizer

SENTENCES = [f"the {a} sat on the {b}." for a in ("cat", "dog", "bird") for b in ("mat", "rug", "box")]


def _write_jsonl(path, texts, gz=False):
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "id": "x"}) + "\n")


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    _write_jsonl(d / "a.jsonl", SENTENCES * 5)
    return train_tokenizer([str(d / "a.jsonl")], d / "tok", vocab_size=300, seed=0)


def test_tokenizer_roundtrip_and_eos(tok_dir):
    tok = load_tokenizer(tok_dir)
    assert tok.eos_token == EOS and tok.eos_token_id is not None
    assert len(tok) <= 300
    text = "the cat sat on the mat. Ünïcode ✓ never seen"
    assert tok.decode(tok.encode(text)) == text  # byte-level: any text round-trips
    assert len(tok.encode("the cat sat on the mat.")) < len("the cat sat on the mat.") / 2  # merges learned


def test_tokenizer_is_deterministic(tmp_path):
    _write_jsonl(tmp_path / "a.jsonl", SENTENCES * 3)
    a = train_tokenizer([str(tmp_path / "a.jsonl")], tmp_path / "t1", vocab_size=280, sample_docs=10, seed=3)
    b = train_tokenizer([str(tmp_path / "a.jsonl")], tmp_path / "t2", vocab_size=280, sample_docs=10, seed=3)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()


def test_readers_parquet_jsonl_gz_dirs_and_errors(tmp_path):
    stage = tmp_path / "stage"
    (stage / "data").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["1", "2"], "body": ["alpha", "beta"]}), stage / "data" / "p0.parquet")
    _write_jsonl(tmp_path / "b.jsonl.gz", ["gamma"], gz=True)
    assert list(iter_texts([stage], text_field="body")) == ["alpha", "beta"]
    assert list(iter_texts([str(tmp_path / "*.jsonl.gz")])) == ["gamma"]
    with pytest.raises(UserError, match=r"p0.parquet @ offset 0: missing text field 'text'"):
        list(iter_texts([stage]))
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{not json\n')
    with pytest.raises(UserError, match=r"bad.jsonl @ offset 2: malformed JSON on line 2"):
        list(iter_texts([tmp_path / "bad.jsonl"]))
    with pytest.raises(UserError, match="input not found: .*nothing-here"):
        resolve_paths([tmp_path / "nothing-here"])


def test_token_cache_counts_and_eos_between_docs(tmp_path, tok_dir):
    tok = load_tokenizer(tok_dir)
    docs = ["the cat sat.", "the dog sat on the rug.", "é"]
    _write_jsonl(tmp_path / "d.jsonl", docs)
    cache = build_token_cache([tmp_path / "d.jsonl"], tok, tmp_path / "tokens.bin")
    expected = []
    for d in docs:
        expected += [tok.eos_token_id] + tok.encode(d)
    assert cache.tokens.tolist() == expected
    assert cache.n_docs == 3 and cache.n_bytes == sum(len(d.encode()) for d in docs)  # "é" is 2 bytes
    assert cache.n_tokens == len(expected)
    # same inputs: reused; other inputs in the same place: rebuilt, not silently reused
    assert build_token_cache([tmp_path / "d.jsonl"], tok, tmp_path / "tokens.bin").n_docs == 3
    _write_jsonl(tmp_path / "e.jsonl", docs[:1])
    assert build_token_cache([tmp_path / "e.jsonl"], tok, tmp_path / "tokens.bin").n_docs == 1


def test_packing_epochs_and_determinism():
    tokens = np.arange(101, dtype=np.uint16)  # 100 predicted positions -> 10 windows of 10
    pb = PackedBatches(tokens, seq_len=10, batch_size=5, seed=7)
    assert pb.n_windows == 10
    x, y = pb.batch(0)
    assert x.shape == (5, 10) and (y[:, :-1] == x[:, 1:]).all() and (y[:, -1] == x[:, -1] + 1).all()
    # one epoch = batches 0 and 1: every window exactly once
    starts = sorted(int(r[0]) for s in (0, 1) for r in pb.batch(s)[0])
    assert starts == list(range(0, 100, 10))
    # epoch 2 (batches 2, 3) is a different order of the same windows
    second = [int(r[0]) for s in (2, 3) for r in pb.batch(s)[0]]
    assert sorted(second) == starts and second != [int(r[0]) for s in (0, 1) for r in pb.batch(s)[0]]
    assert pb.epochs_for(30) == 3.0
    again = PackedBatches(tokens, 10, 5, seed=7)
    assert all((again.batch(s)[0] == pb.batch(s)[0]).all() for s in (3, 1, 0))  # pure function of step
    other = PackedBatches(tokens, 10, 5, seed=8)
    assert not (other.batch(0)[0] == pb.batch(0)[0]).all()
    # DDP ranks take disjoint slots of the same global order
    r0, r1 = pb.batch(0, rank=0, world_size=2)[0], pb.batch(0, rank=1, world_size=2)[0]
    assert (r0 == pb.batch(0)[0]).all() and (r1 == pb.batch(1)[0]).all()
    with pytest.raises(ValueError, match="too few"):
        PackedBatches(np.arange(5), seq_len=10, batch_size=1)
