"""The house rules a reader relies on, checked on the source (cheap: AST only, no imports run): no import circles
(every import counts, also those inside functions), `filters/` and `generators/` never import `pipeline/`, stage
modules import each other only for public names, and a module over 400 lines says why at its top."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "filters", "generators", "jobs")


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in (REPO / pkg).rglob("*.py"):
            name = ".".join(p.relative_to(REPO).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = p
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[tuple[str, str]]]:
    """module -> {(imported module, imported name or "")}: every import statement, at any depth."""
    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[tuple[str, str]]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if (t := resolve(a.name)) and t != m:
                        graph[m].add((t, ""))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(pkg.split(".")[:len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
                for a in node.names:
                    full = f"{base}.{a.name}"
                    t = full if full in mods else resolve(base)
                    if t and t != m:
                        graph[m].add((t, "" if t == full else a.name))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    graph = {m: {t for t, _ in deps} for m, deps in imports(modules()).items()}
    assert cycles(graph) == []


def test_the_check_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_plain_libraries_never_import_pipeline():
    bad = [(m, t) for m, deps in imports(modules()).items() if m.startswith(("filters", "generators"))
           for t, _ in deps if t.startswith("pipeline")]
    assert bad == []


def test_stage_modules_import_each_other_only_for_public_names():
    def stage_of(m: str) -> str | None:
        parts = m.split(".")
        return parts[2] if len(parts) > 2 and parts[:2] == ["pipeline", "stages"] and parts[2] != "base" else None

    bad = [(m, t, name) for m, deps in imports(modules()).items() for t, name in deps
           if stage_of(m) and stage_of(t) and stage_of(m) != stage_of(t) and name.startswith("_")]
    assert bad == []


def test_long_modules_say_why():
    long = [str(p.relative_to(REPO)) for p in modules().values() if len(p.read_text().splitlines()) > 400
            and "Over 400 lines:" not in (ast.get_docstring(ast.parse(p.read_text())) or "")]
    assert long == []


def test_stdlib_logging_is_routed_through_progress(capsys, monkeypatch):
    """INFO lines of modules that use `logging` (ablate, the training loop) reach stderr once an entry point has
    configured logging (they were dropped before)."""
    import logging

    import pipeline.progress as progress

    monkeypatch.setattr(progress, "_QUIET", False)
    progress.configure_logging()
    logging.getLogger("pipeline.student.train").info("resuming %s at step %d", "run", 3)
    assert "[train] resuming run at step 3" in capsys.readouterr().err
