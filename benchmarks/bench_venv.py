"""The peer venv (`.venv-bench`) that the benchmarks comparing assay with datatrove run in, built once.

datatrove 0.10 pins ``trafilatura<1.12`` (assay pins 2.3.1), so it cannot share assay's venv; assay is not installed
there, the scripts put the repository root on ``sys.path`` where they need assay's plain modules. One helper for
every such benchmark (``benchmarks/filters.py``, ``benchmarks/curate_vs_datatrove.py``). Besides datatrove: spaCy
(its English word tokenizer), and what its WARC reader, JSONL writer, cached downloads (fsspec's path handling)
and trafilatura 1.11 import but do not declare:

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install "datatrove[processing]==0.10.0" spacy warcio faust-cchardet python-magic orjson \
        lxml_html_clean aiohttp
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".venv-bench"
PACKAGES = ("datatrove[processing]==0.10.0", "spacy", "warcio", "faust-cchardet", "python-magic", "orjson",
            "lxml_html_clean", "aiohttp")
IMPORTS = ("datatrove", "spacy", "warcio", "cchardet", "magic", "orjson", "trafilatura", "aiohttp")  # what a usable venv can import


def ensure_bench_venv() -> Path:
    """Path of the peer venv's python, creating the venv or installing what it lacks."""
    py = BENCH_VENV / "bin" / "python"
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(BENCH_VENV)])
    missing = subprocess.run([str(py), "-c", f"import {', '.join(IMPORTS)}"], capture_output=True).returncode
    if missing:
        subprocess.check_call([str(py), "-m", "pip", "install", "-q", *PACKAGES])
    return py
