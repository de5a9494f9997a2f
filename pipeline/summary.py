"""End-of-run outputs for people: the rich summary table and the dataset card (README.md) of an output dir."""
from __future__ import annotations

from pathlib import Path

from pipeline.io import write_text_atomic


def print_summary(manifest: dict, title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    n = max(manifest["input"], 1)
    table = Table(title=title or f"assay {manifest['stage']}: {manifest['input']} documents in")
    table.add_column("outcome")
    table.add_column("docs", justify="right")
    table.add_column("share", justify="right")
    table.add_row("[green]kept", str(manifest["kept"]), f"{manifest['kept'] / n:.1%}")
    for reason, count in sorted(manifest["removed"].items(), key=lambda kv: -kv[1]):
        table.add_row(f"removed: {reason}", str(count), f"{count / n:.1%}")
    table.add_row("[yellow]quarantined", str(manifest["quarantined"]), f"{manifest['quarantined'] / n:.1%}")
    steps = manifest.get("steps") or {}
    console = Console(stderr=True)
    console.print(table)
    if steps:
        st = Table(title="per-step time (worker seconds, summed over shards)")
        for c in ("step", "docs", "seconds", "docs/s"):
            st.add_column(c, justify="right" if c != "step" else "left")
        for name, s in steps.items():
            st.add_row(name, str(s["docs"]), f"{s['wall_s']:.2f}", str(s.get("docs_per_s") or ""))
        console.print(st)


def write_dataset_card(out_dir: Path, manifest: dict) -> None:
    """README.md with a `datasets` config header so `load_dataset(DIR)` finds the Parquet shards."""
    removed = "\n".join(f"| removed: `{r}` | {c} |" for r, c in sorted(manifest["removed"].items()))
    text = f"""---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/*.parquet
---
# assay {manifest['stage']} output

Made by `assay {manifest['stage']}` on {manifest.get('finished_at', '')}. Every input document is in exactly one
place: kept (`data/`), removed with a named reason (`rejects/`), or quarantined as unreadable (`quarantine/`).

| outcome | documents |
|---|---|
| input | {manifest['input']} |
| kept | {manifest['kept']} |
{removed}
| quarantined | {manifest['quarantined']} |

Load it with

```python
import datasets
ds = datasets.load_dataset("parquet", data_files="{out_dir}/data/*.parquet", split="train")
```

Columns: `id` (stable: source file name and record offset, or the input's own id), `text`, `url`, `date`,
`source`, then one column per quality signal (`<filter>_<signal>`). The full configuration, per-step timings
and package versions are in `manifest.json`.
"""
    write_text_atomic(text, Path(out_dir) / "README.md")
