"""English prose pool from the Python standard library (no network, no third-party data).

Two sources every CPython 3.11 carries:
- ``pydoc_data.topics.topics``: the language reference rendered as plain text;
- docstrings of stdlib modules, classes and functions, read with :mod:`ast` from the source files (never imported).
The extended pool (``prose_pool(extended=True)``, ~11x larger: ~890k words) adds the docstrings of the pinned
packages installed with assay (numpy, scipy, pandas, torch, ...): used where a corpus must hold more unique prose
than the stdlib has (the demo's data ablation), not by default.

Both are cut into paragraphs, cleaned of reST markup and filtered to prose-like paragraphs (full sentences, no code,
no lists, no curly braces), so pages built from them pass the Gopher / C4 / FineWeb heuristics. The pool is sorted
and computed once per process (:func:`prose_pool`).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

# Stdlib parts that some distributions split into separate packages (Debian: python3-tk, -distutils, -lib2to3,
# -venv) or that hold tests: skipped so the pool is the same on every CPython 3.11 installation.
_SKIP_DIRS = {
    "test", "tests", "idlelib", "tkinter", "turtledemo", "lib2to3", "distutils", "ensurepip", "venv",
    "site-packages", "dist-packages", "__pycache__", "config-3.11-x86_64-linux-gnu",
}
_SKIP_FILES = {"turtle.py", "this.py", "antigravity.py", "__phello__.foo.py"}

_ROLE = re.compile(r":[a-zA-Z:]+:`~?([^`<]+?)(?:\s*<[^`]*>)?`")
_LITERAL = re.compile(r"``([^`]+)``")
_INTERP = re.compile(r"`([^`]+)`_?")
_MARKER = re.compile(r"^(\d+[.)]|[-*+\u2022])\s+")
_PUNCT = "\"'()[],.;:!?*`“”‘’"
_WS = re.compile(r"\s+")
_BAD = re.compile(r"[{}<>|\\$@#]|&#?\w+;|\.\.\.|::|==|\+\+|->|\bhttps?:|--|\*\*|\[\d*\]")
_SENT_END = re.compile(r"[.!?][\"')’”]?$")


@dataclass(frozen=True)
class Article:
    """A run of prose paragraphs from one source (a reference topic or one module)."""

    title: str
    source: str
    paragraphs: tuple[str, ...]


def _clean(par: str) -> str:
    par = _ROLE.sub(r"\1", par)
    par = _LITERAL.sub(r"\1", par)
    par = _INTERP.sub(r"\1", par)
    par = par.replace("\u2026", "...")
    return _WS.sub(" ", par).strip()


def is_prose(par: str) -> bool:
    """True for a paragraph that reads as English sentences: long enough, ends a sentence, no code-like symbols."""
    words = par.split()
    if len(words) < 8 or len(par) > 2500:
        return False
    if not _SENT_END.search(par) or not par[0].isalpha():
        return False
    if _BAD.search(par):
        return False
    # Gopher's alphabetic-word share over spaCy-like tokens: leading/trailing punctuation are tokens of their own
    n_punct = sum(len(w) - len(w.lstrip(_PUNCT)) + len(w) - len(w.rstrip(_PUNCT)) for w in words)
    n_alpha = sum(1 for w in words if any(c.isalpha() for c in w))
    if n_alpha < 0.84 * (len(words) + n_punct):
        return False
    lower = {w.lower().strip(",.;:") for w in words}
    return len(lower & {"the", "a", "is", "of", "to", "and", "in", "be", "that", "this", "it"}) >= 2


def split_paragraphs(text: str) -> list[str]:
    """Split plain text into cleaned prose paragraphs; code blocks, headings and tables are dropped.

    A block is dedented first (notes and list items are prose too); one still indented inside is code.
    """
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = textwrap.dedent(block).strip("\n").split("\n")
        if not lines[0].strip():
            continue
        marker = _MARKER.match(lines[0])
        if marker:
            width = marker.end()
            lines = [lines[0][width:]] + [ln[width:] if ln[:width].isspace() else ln for ln in lines[1:]]
        if any(ln.startswith((" ", "\t")) for ln in lines):
            continue
        if lines[0].startswith("..") or any(ln.strip() and set(ln.strip()) <= set("=-*~^#+") for ln in lines):
            continue
        par = _clean(" ".join(lines))
        if is_prose(par):
            out.append(par)
    return out


def _topic_articles() -> list[Article]:
    from pydoc_data.topics import topics

    arts = []
    for key in sorted(topics):
        text = topics[key]
        first = text.strip().split("\n", 1)[0].strip()
        title = first.replace('"', "") if first and len(first) < 80 else key.replace("-", " ").title()
        pars = split_paragraphs(text)
        if pars:
            arts.append(Article(title=title, source=f"pydoc_data.topics:{key}", paragraphs=tuple(pars)))
    return arts


def _docstrings(tree: ast.Module) -> list[str]:
    docs = []
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in nodes:
        doc = ast.get_docstring(node, clean=True)
        if doc:
            docs.append(doc)
    return docs


def stdlib_files() -> list[Path]:
    """Sorted stdlib ``.py`` files used for docstrings (tests and distro-split packages skipped)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(("config-", "."))]
        for name in filenames:
            if name.endswith(".py") and name not in _SKIP_FILES and not name.startswith("test_"):
                files.append(Path(dirpath, name))
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _module_title(rel: str) -> str:
    mod = rel[:-3].replace("/", ".").removesuffix(".__init__")
    return f"The {mod} module"


def _docstring_articles() -> list[Article]:
    root = Path(sysconfig.get_paths()["stdlib"])
    arts = []
    for path in stdlib_files():
        art = _module_article(path, path.relative_to(root).as_posix(), "stdlib")
        if art:
            arts.append(art)
    return arts


def _module_article(path: Path, rel: str, kind: str) -> Article | None:
    """The docstrings of one Python file as an article (None: unparsable or no docstring prose)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return None
    pars = [p for doc in _docstrings(tree) for p in split_paragraphs(doc)]
    return Article(title=_module_title(rel), source=f"{kind}:{rel}", paragraphs=tuple(pars)) if pars else None


# Pinned dependencies whose docstrings extend the pool (same text wherever assay's venv is installed).
PACKAGES = ("numpy", "scipy", "pandas", "torch", "sympy", "networkx", "matplotlib", "transformers", "ray", "datasets",
            "pydantic", "jinja2", "click", "fsspec", "rich", "datasketch", "trafilatura", "lxml")


def _package_articles() -> list[Article]:
    import sysconfig as _sc

    site = Path(_sc.get_paths()["purelib"])
    arts = []
    for pkg in PACKAGES:
        root = site / pkg
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and d not in ("testing", "_vendor",
                                                                                     "vendored"))
            for name in sorted(filenames):
                if not name.endswith(".py") or name.startswith("test_"):
                    continue
                path = Path(dirpath, name)
                art = _module_article(path, path.relative_to(site).as_posix(), "package")
                if art:
                    arts.append(art)
    return arts


def _build_pool(extended: bool = False) -> tuple[Article, ...]:
    seen: set[str] = set()
    out = []
    for art in _topic_articles() + _docstring_articles() + (_package_articles() if extended else []):
        pars = tuple(p for p in art.paragraphs if not (p in seen or seen.add(p)))
        if pars:
            out.append(Article(art.title, art.source, pars))
    if not out:
        raise RuntimeError("no prose found in the standard library (pydoc_data and stdlib sources missing?)")
    return tuple(out)


def _cache_file(extended: bool = False) -> Path | None:
    """Cache path keyed by this module's code, the Python version and the stdlib files' sizes and mtimes.

    ``ASSAY_CACHE_DIR`` (default ``~/.cache/assay``) sets the folder; ``ASSAY_CACHE_DIR=off`` disables the cache.
    """
    root = os.environ.get("ASSAY_CACHE_DIR") or str(Path.home() / ".cache" / "assay")
    if root == "off":
        return None
    import pydoc_data.topics

    key = hashlib.sha256(Path(__file__).read_bytes() + sys.version.encode())
    for path in [Path(pydoc_data.topics.__file__)] + stdlib_files():
        st = path.stat()
        key.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    if extended:
        import importlib.metadata

        for pkg in PACKAGES:
            try:
                key.update(f"{pkg}=={importlib.metadata.version(pkg)}\n".encode())
            except importlib.metadata.PackageNotFoundError:
                key.update(f"{pkg} missing\n".encode())
    return Path(root) / f"prose-pool-{'ext-' if extended else ''}{key.hexdigest()[:24]}.json"


@functools.lru_cache(maxsize=2)
def prose_pool(extended: bool = False) -> tuple[Article, ...]:
    """All articles (reference topics, then stdlib modules by path; with `extended`, then the packages'); a
    repeated paragraph is kept once.

    Parsing takes seconds (a minute extended), so the pool is cached on disk (see :func:`_cache_file`) and in memory.
    """
    cache = _cache_file(extended)
    if cache is not None and cache.exists():
        try:
            rows = json.loads(cache.read_text(encoding="utf-8"))
            return tuple(Article(r["title"], r["source"], tuple(r["paragraphs"])) for r in rows)
        except (ValueError, KeyError, TypeError):
            pass  # corrupt cache: rebuild
    pool = _build_pool(extended)
    if cache is not None:
        try:
            from pipeline.io import write_text_atomic

            write_text_atomic(json.dumps([{"title": a.title, "source": a.source, "paragraphs": list(a.paragraphs)}
                                          for a in pool], ensure_ascii=False), cache)
        except OSError:
            pass  # read-only home: no cache
    return pool


@functools.lru_cache(maxsize=2)
def all_paragraphs(extended: bool = False) -> tuple[str, ...]:
    """Every paragraph of the pool, in pool order."""
    return tuple(p for art in prose_pool(extended) for p in art.paragraphs)


def is_heldout(article: Article, fraction: float) -> bool:
    """Whether an article is held out of a corpus (a stable hash of its source, so the split never depends on the
    seed or the page count)."""
    if fraction <= 0:
        return False
    return int(hashlib.sha1(article.source.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


@functools.lru_cache(maxsize=4)
def training_pool(extended: bool, heldout: float) -> tuple[tuple[Article, ...], tuple[str, ...]]:
    """(articles, paragraphs) pages may use: the pool without the held-out articles."""
    arts = tuple(a for a in prose_pool(extended) if not is_heldout(a, heldout))
    return arts, tuple(p for a in arts for p in a.paragraphs)
