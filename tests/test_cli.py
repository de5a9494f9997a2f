"""The command line as a user meets it: every README example parses, expected failures are one line (exit 2, no
traceback), stale output is refused, configs are validated before any work, every stage takes every input format,
and empty inputs or shards where everything is removed finish normally with conservation intact."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.manifest import StageCounts, check_conservation
from tests.helpers import PROSE, PROSE2, html_page, write_jsonl, write_warc

REPO = Path(__file__).resolve().parent.parent
FRENCH = ("Le chat est assis sur le tapis et regarde la fenêtre pendant que la pluie tombe sur la ville. "
          "Les enfants jouent dans le jardin et les oiseaux chantent dans les arbres du parc voisin. ") * 6


def assay(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=300)


def manifest(out: Path) -> dict:
    m = json.loads((out / "manifest.json").read_text())
    check_conservation(StageCounts.from_dict(m))
    return m


def one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture()
def docs(tmp_path):
    """Two JSONL files: English prose, and French pages the language filter removes entirely (an empty shard)."""
    from pipeline.corpus.prose import prose_pool

    texts = ["\n\n".join(a.paragraphs[:6]) for a in prose_pool() if len(a.paragraphs) >= 6][:4]
    en = write_jsonl(tmp_path / "en.jsonl", [{"id": f"e{i}", "text": t} for i, t in enumerate(texts)]
                     + [{"id": "e-copy", "text": texts[0]}])
    fr = write_jsonl(tmp_path / "fr.jsonl", [{"id": f"f{i}", "text": FRENCH + str(i)} for i in range(3)])
    return en, fr


def test_readme_examples_parse():
    """Every `assay ...` example in README.md's command table parses with the real CLI (options exist)."""
    import click
    import typer

    from pipeline.cli import app

    group = typer.main.get_command(app)
    table = [ln for ln in (REPO / "README.md").read_text().splitlines() if ln.startswith("| `assay ")]
    assert len(table) >= 10
    for line in table:
        example = line.split("`")[1]
        args = shlex.split(example)[1:]
        ctx = group.make_context("assay", list(args), resilient_parsing=True)
        cmd_name, cmd, rest = group.resolve_command(ctx, args)
        while isinstance(cmd, click.Group):
            sub = cmd.make_context(cmd_name, rest, parent=ctx, resilient_parsing=True)
            cmd_name, cmd, rest = cmd.resolve_command(sub, rest)
        cmd.make_context(cmd_name, rest, resilient_parsing=False) if "--help" not in rest else None


def test_one_line_errors(tmp_path, docs):
    en, _ = docs
    (tmp_path / "a_file").write_text("x")
    one_line_error(assay("filter", str(en), "-o", str(tmp_path / "a_file")), "a_file", "is a file")
    one_line_error(assay("filter", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o")), "input not found",
                   "missing.jsonl")
    one_line_error(assay("dedupe", str(en), "-o", str(tmp_path / "o"), "--threshold", "1.5"), "dedupe.threshold",
                   "less than 1")
    one_line_error(assay("curate", str(en), "-o", str(tmp_path / "o"), "--set", "dedupe.treshold=0.5"),
                   "unknown key 'dedupe.treshold'", "threshold")
    (tmp_path / "train.toml").write_text('data = ["x"]\nmodel = "t99"\n')
    one_line_error(assay("train", "--config", str(tmp_path / "train.toml"), "-o", str(tmp_path / "run")),
                   "model", "t99")
    one_line_error(assay("train", "--data", str(en), "--tokenizer", str(tmp_path / "tok"), "--device", "cuda",
                         "-o", str(tmp_path / "run")), "--device cuda", "no CUDA GPU")
    body = tmp_path / "body.parquet"
    pq.write_table(pa.table({"id": ["1"], "body": [PROSE]}), body)
    one_line_error(assay("filter", str(body), "-o", str(tmp_path / "o")), "body.parquet", "no text field 'text'",
                   "fields: id, body")
    (tmp_path / "abl.yaml").write_text(f"arms: {{a: ['{tmp_path}/nope']}}\nbaseline: a\nmodels: [t0]\n"
                                       f"tokens: [1000]\neval: {{text: {{h: '{en}'}}}}\noutput: {tmp_path}/abl\n")
    one_line_error(assay("ablate", "--config", str(tmp_path / "abl.yaml")), "input not found", "nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("filter: [unclosed\n")
    one_line_error(assay("filter", str(en), "-o", str(tmp_path / "o"), "--config", str(bad)), "bad.yaml",
                   "not valid YAML")


def test_empty_eval_file_is_one_line(tmp_path):
    from pipeline.stage import RunContext
    from pipeline.stages.train import run_train
    from pipeline.student.train import TrainJob

    write_jsonl(tmp_path / "t.jsonl", [{"text": f"{PROSE} {i}"} for i in range(40)])
    run_train(TrainJob(data=[str(tmp_path / "t.jsonl")], tokenizer=str(tmp_path / "tok"), output=str(tmp_path / "r"),
                       tokens=512, seq_len=16, batch_size=4, vocab_size=300, device="cpu", threads=1),
              RunContext(progress=False))
    (tmp_path / "empty.txt").write_text("")
    one_line_error(assay("evaluate", str(tmp_path / "r" / "hf"), "--text", f"e={tmp_path / 'empty.txt'}"),
                   "empty.txt", "empty")
    one_line_error(assay("evaluate", str(tmp_path / "r"), "--text", f"e={tmp_path / 't.jsonl'}"),
                   "not an exported model dir")


def test_stale_output_is_refused_then_overwritten(tmp_path, docs):
    en, fr = docs
    out = tmp_path / "f"
    assert assay("filter", str(en), str(fr), "-o", str(out), "--no-progress").returncode == 0
    first = manifest(out)
    again = assay("filter", str(en), str(fr), "-o", str(out), "--no-progress")  # same run: resumes, same output
    assert again.returncode == 0 and manifest(out)["kept"] == first["kept"]
    err = one_line_error(assay("filter", str(en), str(fr), "-o", str(out), "--lang-threshold", "0.99"),
                         "different run", "filter.language.threshold: 0.65 -> 0.99", "--overwrite")
    assert "inputs" not in err
    one_line_error(assay("filter", str(en), "-o", str(out)), "inputs: 0 added, 1 removed")
    res = assay("filter", str(en), str(fr), "-o", str(out), "--lang-threshold", "0.99", "--overwrite",
                "--no-progress")
    assert res.returncode == 0 and manifest(out)["config"]["filter"]["language"]["threshold"] == 0.99
    curated = tmp_path / "c"
    assert assay("curate", str(en), "-o", str(curated), "--no-progress").returncode == 0
    one_line_error(assay("curate", str(en), "-o", str(curated), "--set", "dedupe.ngram=3"),
                   "dedupe.ngram: 5 -> 3")
    # a record written when an execution setting still counted (dedupe.batch_size was fingerprinted before): resumes
    run = json.loads((curated / "run.json").read_text())
    run["config"]["dedupe"]["batch_size"], run["fingerprint"] = 2000, "from an older assay"
    (curated / "run.json").write_text(json.dumps(run))
    assert assay("curate", str(en), "-o", str(curated), "--no-progress").returncode == 0
    assert "batch_size" not in json.loads((curated / "run.json").read_text())["config"]["dedupe"]
    one_line_error(assay("curate", str(en), "-o", str(curated), "--set", "dedupe.ngram=3"), "dedupe.ngram: 5 -> 3")
    err = one_line_error(assay("curate", str(en), str(fr), "-o", str(curated)), "inputs: 1 added, 0 removed")
    assert err.count("inputs") == 1 and str(fr) not in err  # said once, as counts, not as two lists of paths
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    one_line_error(assay("filter", str(en), "-o", str(tmp_path / "junk"), "--overwrite"), "not an assay output")
    assert (tmp_path / "junk" / "notes.txt").read_text() == "mine"


def test_config_is_validated_before_any_work(tmp_path, docs):
    en, _ = docs
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'inputs = ["{en}"]\noutput = "{tmp_path / "out"}"\n[dedupe]\nthreshhold = 0.8\n')
    one_line_error(assay("curate", "--config", str(cfg)), "unknown key 'dedupe.threshhold'")
    assert not (tmp_path / "out").exists()


def test_curate_with_a_shard_where_everything_is_removed(tmp_path, docs):
    """French pages: the whole fr shard is removed by language ID; filter -> dedupe goes on; inline JSON config."""
    en, fr = docs
    empty = tmp_path / "nothing.jsonl"
    empty.write_text("")
    out = tmp_path / "c"
    cfg = json.dumps({"inputs": [str(en), str(fr), str(empty)], "output": str(out)})
    res = subprocess.run([sys.executable, "-m", "jobs.curate", "--config", cfg, "--no-progress"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    m = manifest(out)
    assert m["input"] == 5 + 3 + 1 and m["quarantined"] == 1  # the empty file is one quarantined record
    assert m["removed"]["language"] == 3 and m["removed"]["exact_duplicate"] == 1 and m["kept"] == 4
    assert m["stages"]["filter"]["kept"] == m["stages"]["dedupe"]["input"] == 5
    assert pq.read_table(out / "data").num_rows == 4
    fr_shard = [p for p in (out / "data").glob("fr-*.parquet")]
    assert len(fr_shard) == 1 and pq.read_table(fr_shard[0]).num_rows == 0
    q = pq.read_table(out / "quarantine").to_pylist()
    assert q[0]["reason"] == "empty_file" and q[0]["file"] == str(empty)


def test_every_input_format_through_filter_and_the_stage_output_folder(tmp_path):
    import datasets

    warc = write_warc(tmp_path / "p.warc.gz", [("http://x/a", html_page(PROSE)), ("http://x/b", html_page(PROSE2))])
    jsonl = write_jsonl(tmp_path / "j.jsonl.gz", [{"id": "j1", "text": PROSE}])
    pq.write_table(pa.table({"id": ["p1"], "text": [PROSE2], "extra": [7]}), tmp_path / "t.parquet")
    datasets.Dataset.from_dict({"id": ["h1", "h2"], "text": [PROSE, PROSE2]}).save_to_disk(str(tmp_path / "hf"))
    (tmp_path / "plain.txt").write_text(PROSE)
    out = tmp_path / "f"
    res = assay("filter", str(warc), str(jsonl), str(tmp_path / "t.parquet"), str(tmp_path / "hf"),
                str(tmp_path / "plain.txt"), "-o", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    m = manifest(out)
    assert m["input"] == 2 + 1 + 1 + 2 + 1 and m["quarantined"] == 0 and m["kept"] == 7
    parquet_out = [r for r in pq.read_table(out / "data").to_pylist() if r["id"] == "p1"][0]
    assert parquet_out["extra"] == 7  # pass-through column
    # the filter's output folder as the next stage's input: data/ only (not rejects/, work/, stats/, side files)
    d = tmp_path / "d"
    assert assay("dedupe", str(out), "-o", str(d), "--no-progress").returncode == 0
    assert manifest(d)["input"] == 7 and manifest(d)["removed"] == {"exact_duplicate": 5}  # 2 distinct texts
    # a corpus folder: its WARCs, not its _truth.jsonl/_corpus.json side files
    from pipeline.corpus import build_corpus

    build_corpus(tmp_path / "corpus", docs=20, seed=1, docs_per_file=10)
    res = assay("filter", str(tmp_path / "corpus"), "-o", str(tmp_path / "cf"), "--no-progress")
    assert res.returncode == 0 and manifest(tmp_path / "cf")["input"] == 20
    assert len(list((tmp_path / "cf" / "data").glob("*.parquet"))) == 2
