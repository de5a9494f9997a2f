"""Every input format reads back with stable ids, URLs and dates; bad records become `Bad` naming file + record."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.readers import read_path
from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc
from tests.helpers import PROSE, html_page, write_arc, write_jsonl, write_warc, write_wet


def docs_and_bad(path, **opts):
    items = list(read_path(str(path), ReaderOptions(**opts)))
    return [d for d in items if isinstance(d, Doc)], [b for b in items if isinstance(b, Bad)]


@pytest.mark.parametrize("gz", [True, False])
def test_warc_response_records(tmp_path, gz):
    p = write_warc(tmp_path / ("a.warc.gz" if gz else "a.warc"),
                   [("http://x/1", html_page(PROSE)), ("http://x/2", html_page("second page"))], gz=gz)
    docs, bad = docs_and_bad(p)
    assert not bad and [d.url for d in docs] == ["http://x/1", "http://x/2"]
    assert docs[0].date == "2024-05-01T00:00:00Z" and docs[0].html and docs[0].charset == "utf-8"
    assert docs[0].id.startswith(p.name + ":") and docs[0].id != docs[1].id
    again, _ = docs_and_bad(p)
    assert [d.id for d in again] == [d.id for d in docs]  # stable


def test_wet_conversion_records(tmp_path):
    docs, bad = docs_and_bad(write_wet(tmp_path / "a.warc.wet.gz", [("http://x/1", PROSE)]))
    assert not bad and docs[0].text == PROSE and docs[0].html is None


def test_arc_without_blank_lines_between_records(tmp_path):
    p = write_arc(tmp_path / "a.arc", [("http://x/1", html_page(PROSE)), ("http://x/2", html_page("two"))])
    docs, bad = docs_and_bad(p)
    assert not bad and [d.url for d in docs] == ["http://x/1", "http://x/2"]
    assert docs[0].date == "2008-05-09T19:02:41Z" and b"interpreter" in docs[0].html


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.jsonl.zst"])
def test_jsonl_compressions_and_fields(tmp_path, name):
    rows = [{"doc_id": "d1", "body": PROSE, "meta": {"url": "http://x/1"}}, {"body": "no id here"}]
    docs, bad = docs_and_bad(write_jsonl(tmp_path / name, rows), text_field="body", id_field="doc_id",
                             url_field="meta.url")
    assert not bad
    assert [d.id for d in docs] == ["d1", f"{name}:2"]
    assert docs[0].url == "http://x/1" and docs[1].text == "no id here"


def test_parquet_and_datasets_dir(tmp_path):
    import datasets

    table = pa.table({"id": ["a", "b"], "text": [PROSE, "other"], "url": ["u1", None]})
    pq.write_table(table, tmp_path / "a.parquet")
    docs, bad = docs_and_bad(tmp_path / "a.parquet")
    assert not bad and [d.id for d in docs] == ["a", "b"] and docs[0].url == "u1"
    datasets.Dataset.from_dict({"id": ["x"], "text": [PROSE]}).save_to_disk(str(tmp_path / "ds"))
    docs, bad = docs_and_bad(tmp_path / "ds")
    assert not bad and docs[0].id == "x" and docs[0].text == PROSE


def test_unknown_format_is_reported(tmp_path):
    (tmp_path / "a.csv").write_text("x")
    docs, bad = docs_and_bad(tmp_path / "a.csv")
    assert not docs and "unknown input format" in bad[0].error and "a.csv" in str(bad[0])
