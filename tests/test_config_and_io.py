"""Config validation messages, fsspec URL inputs, atomic writes, the conservation check."""
from __future__ import annotations

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.errors import UserError
from pipeline.stages.curate import CurateJob
from pipeline.io import expand_inputs, write_json_atomic
from pipeline.manifest import ConservationError, StageCounts, check_conservation
from pipeline.readers import read_path
from pipeline.schema import Doc
from tests.helpers import PROSE, write_jsonl


def test_config_errors_name_the_key_and_the_allowed_values(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("inputs: [a]\noutput: o\nfilter:\n  extraction:\n    extractor: lynx\n  heuristics:\n"
                   "    gopher_quality:\n      min_doc_wordz: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(CurateJob, cfg)
    msg = str(err.value)
    assert "filter.extraction.extractor" in msg and "'fast', 'trafilatura' or 'resiliparse'" in msg
    assert "\n" not in msg  # one line
    assert "unknown key 'filter.heuristics.gopher_quality.min_doc_wordz'" in msg and "min_doc_words" in msg
    toml = tmp_path / "c.toml"
    toml.write_text('inputs = ["a"]\noutput = "o"\n[filter.language]\nthreshold = 0.9\n')
    job = load_config(CurateJob, toml, {"resources": {"workers": 3}})
    assert job.filter.language.threshold == 0.9 and job.resources.workers == 3


def test_fsspec_url_inputs(tmp_path):
    (tmp_path / "d").mkdir()
    write_jsonl(tmp_path / "d" / "a.jsonl", [{"id": "x", "text": PROSE}])
    (tmp_path / "d" / ".hidden.jsonl").write_text("{}\n")
    url = f"file://{tmp_path}/d"
    paths = expand_inputs([url])
    assert paths == [f"file://{tmp_path}/d/a.jsonl"]
    docs = list(read_path(paths[0]))
    assert isinstance(docs[0], Doc) and docs[0].text == PROSE and docs[0].id == "x"
    with pytest.raises(UserError, match="no document files in"):
        expand_inputs([str(tmp_path / "nothing*.jsonl")])


def test_atomic_writes_leave_no_partial_file(tmp_path):
    target = tmp_path / "m.json"
    with pytest.raises(TypeError):
        write_json_atomic({("tuple", "keys"): "cannot be JSON"}, target)
    assert not target.exists() and not list(tmp_path.iterdir())
    write_json_atomic({"a": 1}, target)
    assert target.read_text().strip().startswith("{")


def test_conservation_violation_fails_loudly():
    check_conservation(StageCounts(10, 5, {"x": 3}, 2))
    with pytest.raises(ConservationError, match="input=10 but kept=5"):
        check_conservation(StageCounts(10, 5, {"x": 3}, 1))


def test_a_dedupe_threshold_means_one_banding_wherever_it_is_written(tmp_path, monkeypatch):
    """Issue 18.4: `--threshold`, `--set dedupe.threshold=`, a config file and curate's `dedupe:` section all derive
    bands x rows from the threshold the same way (the rule is DedupeConfig's), through the real command line."""
    from typer.testing import CliRunner

    import pipeline.cli.commands as commands
    from filters.dedupe.config import banding
    from pipeline.cli import app

    jobs = []
    monkeypatch.setattr(commands, "execute", lambda spec, job, ctx: jobs.append(job))
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": "x", "text": PROSE}])
    (tmp_path / "dedupe.yaml").write_text("dedupe:\n  threshold: 0.8\n")
    (tmp_path / "curate.yaml").write_text("dedupe:\n  threshold: 0.8\n")
    out = str(tmp_path / "o")
    for args in (["dedupe", str(data), "-o", out, "--threshold", "0.8"],
                 ["dedupe", str(data), "-o", out, "--set", "dedupe.threshold=0.8"],
                 ["dedupe", str(data), "-o", out, "--config", str(tmp_path / "dedupe.yaml")],
                 ["curate", str(data), "-o", out, "--config", str(tmp_path / "curate.yaml")]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
    assert len(jobs) == 4
    assert {j.dedupe.band_rows() for j in jobs} == {banding(0.8, 112)} and banding(0.8, 112) != (14, 8)
    assert load_config(CurateJob, None, {"inputs": ["a"], "output": "o"}).dedupe.band_rows() == (14, 8)
