"""Reader options (part of every stage's config)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReaderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["auto", "archive", "jsonl", "parquet", "hf_disk", "text"] = Field(
        "auto", description="input format; auto = by file name")
    text_field: str = Field("text", description="JSONL/Parquet/datasets column holding the text")
    id_field: str | None = Field("id", description="column holding a document id; missing -> file:offset")
    url_field: str | None = Field("url", description="column holding the URL, if any")
    date_field: str | None = Field("date", description="column holding the crawl date, if any")
    max_doc_bytes: int = Field(10_000_000, gt=0, description="larger documents are quarantined")
    keep_columns: bool = Field(True, description="carry the other columns of Parquet inputs through to the output")
    fields: list[str] = Field(default_factory=list, description="further fields of JSONL/Parquet/datasets records "
                                                                "to carry along (e.g. a label)")
