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


def stage_of(m: str, stages: set[str]) -> str | None:
    """The stage a module belongs to (`pipeline.stages.<stage>[.step]`), for stages that register a command."""
    parts = m.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["pipeline", "stages"] and parts[2] in stages else None


def registered_stages(mods: dict[str, Path]) -> set[str]:
    """Names under `pipeline/stages/` whose module (or package) calls `register(StageSpec(...))`."""
    out = set()
    for m, p in mods.items():
        parts = m.split(".")
        if len(parts) > 2 and parts[:2] == ["pipeline", "stages"]:
            for node in ast.walk(ast.parse(p.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "register" and node.args \
                        and getattr(getattr(node.args[0], "func", None), "id", "") == "StageSpec":
                    out.add(parts[2])
    return out


def config_classes(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the pydantic config models it defines or re-exports (classes whose base is `BaseModel` or
    another config)."""
    defined: dict[str, dict[str, list[str]]] = {}
    for m, p in mods.items():
        defined[m] = {n.name: [getattr(b, "id", getattr(b, "attr", "")) for b in n.bases]
                      for n in ast.parse(p.read_text()).body if isinstance(n, ast.ClassDef)}
    configs = {"BaseModel"}
    changed = True
    while changed:
        changed = False
        for classes in defined.values():
            for name, bases in classes.items():
                if name not in configs and (set(bases) & configs or any(b.endswith("Config") for b in bases)):
                    configs.add(name)
                    changed = True
    return {m: {n for n in classes if n in configs} for m, classes in defined.items()}


def cross_stage_imports(mods: dict[str, Path]) -> list[tuple[str, str, str]]:
    """(module, imported module, name) for every import from one registered stage's modules into another's that is
    not a public config model (defined there or re-exported)."""
    stages, configs, graph = registered_stages(mods), config_classes(mods), imports(mods)

    def is_config(t: str, name: str) -> bool:
        return name in configs[t] or any(name in configs[src] for src, n in graph[t] if n == name)

    return [(m, t, name) for m, deps in graph.items() for t, name in deps
            if stage_of(m, stages) and stage_of(t, stages) and stage_of(m, stages) != stage_of(t, stages)
            and not (name and not name.startswith("_") and is_config(t, name))]


def test_stage_modules_import_each_other_only_for_public_configs():
    """A stage reaches another stage only through its public config models (`FilterConfig`, with hooks such as
    `build_steps()`) and the registry (`pipeline.stages.base.SUBSTAGES`), never its functions or private names."""
    mods = modules()
    assert registered_stages(mods) >= {"filter", "classify", "dedupe", "curate", "generate", "decontaminate"}
    assert cross_stage_imports(mods) == []


def test_the_check_finds_a_cross_stage_function_import(tmp_path):
    """The rule fails on a stage that imports another stage's function (what generate did with dedupe's run
    function before chains were built from the registry), and passes a config, also one re-exported."""
    mods = modules()
    fake = tmp_path / "generate.py"
    fake.write_text(mods["pipeline.stages.generate"].read_text() + "\nfrom pipeline.stages.dedupe import dedupe_sub, "
                    "DedupeJob\nfrom pipeline.stages.filter import FilterConfig\n")
    mods["pipeline.stages.generate"] = fake
    assert cross_stage_imports(mods) == [("pipeline.stages.generate", "pipeline.stages.dedupe", "dedupe_sub")]


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
