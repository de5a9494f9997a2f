"""The plain-library core of the synthesize stage: prompt files, tasks (format_input -> teacher -> format_output,
retry protocol, reject reasons), the procedural teacher, math verification and the completion cache. Everything
here is real (the code exercises run in the real sandbox); nothing is mocked."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import subprocess
import sys
import time
from fractions import Fraction

import pytest
from pydantic import ValidationError

from generators.backends.base import Request, Response, SamplingParams, Teacher
from generators.backends.procedural import ProceduralConfig, ProceduralTeacher, edu_score
from generators.backends.procedural_families import CODE_FAMILIES, MATH_FAMILIES
from generators.cache import CacheDir, CompletionCache
from generators.prompts import PromptError, PromptTemplate, load_audiences, load_template, make_extract, \
    template_versions
from generators.tasks import (EduScoreConfig, ExerciseSetConfig, SynthesisConfig, SynthesisPlan,
                              TextbookSectionConfig, WorkedExampleConfig, build_task, topic_words)
from generators.tasks.base import REJECT_FIELDS, ROW_FIELDS, parse_json_text
from generators.tasks.schema import SchemaError, check_supported, validate
from generators.verify.math import (MathError, answers_match, check_equation, check_expression, check_math,
                                    evaluate, parse_quantity)

DOC = {"id": "doc-1", "text": (
    "Photosynthesis is the process by which green plants use sunlight to make food. Plants take in carbon dioxide "
    "from the air and water from the soil. Chlorophyll, the green pigment in leaves, absorbs light energy. The "
    "process releases oxygen, which animals need to breathe. Because of photosynthesis, plants are called producers "
    "in a food chain. For example, a rabbit eats grass and a fox eats the rabbit.")}
DOCS = [DOC, {"id": "doc-2", "text": "The Roman aqueducts carried water across valleys on stone arches. Engineers "
              "measured slopes carefully, because water only flows downhill. Some aqueducts ran for more than fifty "
              "kilometres and supplied public baths, fountains and private houses in the city."},
        {"id": "doc-3", "text": "Volcanoes form where magma rises through cracks in the crust. When pressure builds, "
              "an eruption throws out ash, gas and lava. Scientists measure ground swelling and gas emissions to "
              "forecast eruptions and warn people living nearby."}]
MODEL = "procedural-v1/seed=0"


# ----------------------------------------------------------------------------------------------------- prompts
def test_templates_are_versioned_files_and_render_strictly():
    for name in ("textbook_section", "worked_example", "exercise_set", "edu_score"):
        assert template_versions(name) == [1]
        t = load_template(name, 1)
        assert t.task_version.startswith(f"{name}.v1+") and "extract" in t.fields
    ex = load_template("exercise_set")
    assert ex.schema is not None and "schema" in ex.fields
    text = ex.render(extract="E", audience="A", n_exercises=3, kinds='"math"')
    assert '"exercises"' in text and "$4.80" in text and "$schema" not in text  # $$ is a literal dollar
    with pytest.raises(PromptError, match="needs"):
        ex.render(extract="E")
    with pytest.raises(PromptError, match="no prompt template"):
        load_template("textbook_section", 9)
    assert set(load_audiences()) == {"young_children", "high_school", "college", "professionals"}


def test_task_version_changes_with_the_template_text():
    a = PromptTemplate("x", 1, "Write about $extract.", None, frozenset({"extract"}))
    b = PromptTemplate("x", 1, "Write about $extract!", None, frozenset({"extract"}))
    assert a.task_version != b.task_version and a.task_version == PromptTemplate(
        "x", 1, "Write about $extract.", None, frozenset({"extract"})).task_version


def test_extract_is_at_most_1000_chars_cut_at_a_word():
    text = " ".join(f"word{i}" for i in range(400))
    e = make_extract(text)
    assert len(e) <= 1000 and text.startswith(e) and not e.endswith(" ") and text[len(e)] == " "
    assert make_extract("  a \n b  ") == "a b"


# ------------------------------------------------------------------------------------------------------- tasks
def test_format_input_is_deterministic_and_keys_cover_model_and_prompt():
    task = build_task(TextbookSectionConfig(per_seed=2))
    a, b = task.format_input(DOC, MODEL), task.format_input(DOC, MODEL)
    assert [r.key for r in a] == [r.key for r in b] and len({r.key for r in a}) == 2
    assert {r.meta["audience"] for r in a} == set(task.audiences_for("doc-1"))
    assert all(r.schema is None and r.messages[0]["role"] == "user" for r in a)
    assert {r.key for r in task.format_input(DOC, "other-model")}.isdisjoint({r.key for r in a})
    m = a[0].meta
    assert m["task"] == m["style"] == "textbook_section" and m["seed_id"] == "doc-1" and m["attempt"] == 0
    assert m["topics"][:2] == ["photosynthesis", "plants"] or "photosynthesis" in m["topics"]
    # audiences vary across documents, but each document always gets the same ones
    chosen = {d: tuple(task.audiences_for(d)) for d in (f"d{i}" for i in range(40))}
    assert len(set(chosen.values())) > 3 and chosen == {d: tuple(task.audiences_for(d)) for d in chosen}
    assert task.format_input({"id": "empty", "text": "   "}, MODEL) == []
    with pytest.raises(ValueError):
        task.format_input({"text": "no id"}, MODEL)


def test_configs_forbid_unknown_keys_and_plans_pick_styles_deterministically():
    with pytest.raises(ValidationError, match="min_word"):
        TextbookSectionConfig(min_word=3)
    cfg = SynthesisConfig.model_validate({"tasks": [{"task": "textbook_section"}, {"task": "worked_example"},
                                                    {"task": "exercise_set", "n_exercises": 2},
                                                    {"task": "edu_score"}], "styles_per_seed": 1})
    plan = SynthesisPlan(cfg)
    picks = [plan.styles_for(f"d{i}") for i in range(30)]
    assert all(len(p) == 1 for p in picks) and len({p[0] for p in picks}) == 3
    assert picks == [plan.styles_for(f"d{i}") for i in range(30)]
    tasks = [r.meta["task"] for r in plan.format_input(DOC, MODEL)]
    assert len(tasks) == 2 and "edu_score" in tasks  # one style + the annotation task
    with pytest.raises(ValueError, match="once"):
        SynthesisPlan(SynthesisConfig(tasks=[TextbookSectionConfig(), TextbookSectionConfig()]))


def test_request_failure_malformed_json_and_the_retry_protocol():
    task = build_task(ExerciseSetConfig())
    req = task.format_input(DOC, MODEL)[0]
    out = task.format_output(req, Response(req.key, None, "HTTP 503"))
    assert out.error == "request_failed" and not out.retryable and not out.rows
    out = task.format_output(req, Response(req.key, '{"exercises": [ {"kind": "math", '))
    assert out.error == "malformed_json" and out.retryable and not out.rows and not out.rejects
    retry = task.retry_request(req)
    assert retry.key != req.key and retry.meta["attempt"] == 1 and retry.params.seed == req.params.seed + 1
    assert retry.messages == req.messages
    assert task.retry_request(retry) is None  # max_attempts=2: one retry, then the stage quarantines
    edu = build_task(EduScoreConfig())
    ereq = edu.format_input(DOC, MODEL)[0]
    bad = edu.format_output(ereq, Response(ereq.key, '{"reason": "ok", "score": 7}'))
    assert bad.error == "schema_mismatch" and bad.retryable and "maximum" in bad.detail
    good = edu.format_output(ereq, Response(ereq.key, '```json\n{"reason": "clear", "score": 4}\n```'))
    row = good.rows[0]
    assert row["score"] == 4 and row["rationale"] == "clear" and row["verified"] and row["text"] == ereq.meta["extract"]
    assert tuple(row) == ROW_FIELDS


def test_prose_minimum_length_is_configurable():
    task = build_task(WorkedExampleConfig(min_words=20))
    req = task.format_input(DOC, MODEL)[0]
    short = task.format_output(req, Response(req.key, "Too short to teach anything."))
    assert short.rejects[0]["reason"] == "too_short" and tuple(short.rejects[0]) == REJECT_FIELDS
    long = task.format_output(req, Response(req.key, " ".join(["word"] * 20)))
    assert long.rows and long.rows[0]["verified"] is False and long.rows[0]["kind"] == "prose"


def _math(question, work, answer, solution="We compute it step by step from the numbers given in the problem."):
    return {"kind": "math", "question": question, "solution": solution, "answer": answer, "work": work, "code": "",
            "tests": []}


def _code(code, tests, question="Write a function add(a, b) that returns the sum of a and b for numbers."):
    return {"kind": "code", "question": question, "solution": "Return a + b.", "answer": "", "work": "",
            "code": code, "tests": tests}


ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-2, 5) == 3"]


def test_exercise_verification_with_hand_made_right_and_wrong_answers():
    task = build_task(ExerciseSetConfig(min_words=5))
    req = task.format_input(DOC, MODEL)[0]
    q = "A farm has 12 rows of 8 plants and 15 plants die. How many plants are left?"
    items = [
        _math(q, "12 * 8 - 15", "81"),                                      # right
        _math(q, "12 * 8 - 15", "79"),                                      # wrong answer
        _math("Solve for x: 3x + 5 = 26. What is x?", "3*x + 5 = 26", "x = 7"),  # right equation
        _math("Solve for x: 3x + 5 = 26. What is x?", "3*x + 5 = 26", "x = 8"),  # wrong root
        _math(q, "12 * 17 - 15", "189"),                                    # consistent, but 17 is not in the question
        _math(q, "12 * 8 - 15", "about eighty"),                            # not a number
        _math(q, "__import__('os').system('true')", "81"),                  # not arithmetic
        _code(ADD, ADD_TESTS),                                              # right
        _code("def add(a, b):\n    return a - b\n", ADD_TESTS),             # wrong
        _code(ADD, ADD_TESTS[:1]),                                          # too few tests
        _code("import socket\ndef add(a, b):\n    return a + b\n", ADD_TESTS),  # forbidden in the sandbox
        _code("def add(a, b):\n    while True:\n        pass\n", ADD_TESTS),     # never returns
    ]
    task.config.sandbox = task.config.sandbox.model_copy(update={"cpu_seconds": 1, "wall_seconds": 2})
    rows, rejects = {}, {}
    for part in (items[:7], items[7:]):  # at most 10 exercises per response (the schema's maxItems)
        out = task.format_output(req, Response(req.key, json.dumps({"exercises": part})))
        assert out.error is None and len(out.rows) + len(out.rejects) == len(part)
        offset = 0 if part[0] is items[0] else 7
        rows.update({int(r["id"].rsplit("-", 1)[1]) + offset: r for r in out.rows})
        rejects.update({int(r["id"].rsplit("-", 1)[1]) + offset: r["reason"] for r in out.rejects})
    assert set(rows) == {0, 2, 7}
    assert rejects == {1: "wrong_answer", 3: "wrong_answer", 4: "ungrounded_work", 5: "unparseable_answer",
                       6: "unparseable_work", 8: "code_failed", 9: "too_few_tests", 10: "code_forbidden",
                       11: "code_timeout"}
    assert rows[0]["check"] == "math:expression 12 * 8 - 15 = 81" and rows[0]["answer"] == "81"
    assert rows[2]["check"].startswith("math:equation")
    assert rows[7]["check"] == "python_tests 3/3" and rows[7]["answer"] == ADD.strip()
    for r in rows.values():
        assert r["verified"] and r["seed_id"] == "doc-1" and r["task"] == "exercise_set" and r["question"]
        assert r["audience"] == req.meta["audience"] and r["text"].startswith(("Problem:", "Write"))


def test_schema_validator_subset():
    schema = load_template("exercise_set").schema
    check_supported(schema)
    with pytest.raises(SchemaError):
        check_supported({"type": "object", "oneOf": []})
    assert validate({"exercises": []}, schema) == ["$.exercises: fewer than 1 items"]
    errs = validate({"exercises": [{"kind": "poem"}], "extra": 1}, schema)
    assert any("unexpected 'extra'" in e for e in errs) and any("missing 'question'" in e for e in errs)
    assert any("not in" in e for e in errs)
    assert parse_json_text('Sure! Here it is: {"a": 1} Hope that helps.') == {"a": 1}
    with pytest.raises(ValueError):
        parse_json_text("no json at all")


def test_topic_words_skip_stop_words():
    words = topic_words(DOC["text"], 5)
    assert words[0] in ("photosynthesis", "plants", "process") and "which" not in words and "because" not in words


# -------------------------------------------------------------------------------------------- procedural teacher
def _run(plan: SynthesisPlan, teacher, docs) -> tuple[list[dict], list[dict], list]:
    rows, rejects, errors = [], [], []
    for doc in docs:
        reqs = plan.format_input(doc, teacher.model_name)
        for req, resp in zip(reqs, teacher.generate(reqs)):
            out = plan.format_output(req, resp)
            rows += out.rows
            rejects += out.rejects
            if out.error:
                errors.append(out.error)
    return rows, rejects, errors


ALL_TASKS = SynthesisConfig(tasks=[TextbookSectionConfig(per_seed=4), WorkedExampleConfig(per_seed=4),
                                   ExerciseSetConfig(per_seed=4, n_exercises=4), EduScoreConfig()])


def test_procedural_teacher_output_passes_every_verification():
    teacher = ProceduralTeacher()
    assert isinstance(teacher, Teacher) and teacher.model_name == MODEL
    rows, rejects, errors = _run(SynthesisPlan(ALL_TASKS), teacher, DOCS)
    assert not errors and not rejects, (errors, rejects[:2])
    by_task = {t: [r for r in rows if r["task"] == t] for t in ("textbook_section", "worked_example",
                                                                "exercise_set", "edu_score")}
    assert len(by_task["textbook_section"]) == len(by_task["worked_example"]) == 12  # 3 docs x 4 audiences
    assert len(by_task["exercise_set"]) == 48 and all(r["verified"] for r in by_task["exercise_set"])
    assert {r["kind"] for r in by_task["exercise_set"]} == {"math", "code"}
    assert all(len(r["text"].split()) >= 110 for r in by_task["textbook_section"] + by_task["worked_example"])
    assert all(0 <= r["score"] <= 5 for r in by_task["edu_score"])
    assert {r["audience"] for r in by_task["exercise_set"]} == {"young_children", "high_school", "college",
                                                                "professionals"}


def test_procedural_teacher_is_deterministic_and_reports_usage():
    plan = SynthesisPlan(ALL_TASKS)
    reqs = plan.format_input(DOC, MODEL)
    a, b = ProceduralTeacher().generate(reqs), ProceduralTeacher().generate(reqs)
    assert [r.text for r in a] == [r.text for r in b]
    other = ProceduralTeacher(ProceduralConfig(seed=1))
    assert other.model_name != MODEL
    assert [r.text for r in other.generate(reqs)] != [r.text for r in a]
    for req, r in zip(reqs, a):
        assert r.ok and r.key == req.key and r.completion_tokens == len(r.text.split())
        assert r.prompt_tokens == len(req.messages[0]["content"].split())
    weird = Request("k", [{"role": "user", "content": "x"}], SamplingParams(), meta={"task": "poetry"})
    (resp,) = ProceduralTeacher().generate([weird])
    assert not resp.ok and "poetry" in resp.error
    with pytest.raises(ValidationError):
        ProceduralConfig(kind="procedural", temperature=1)


def test_every_exercise_family_is_correct_for_every_audience():
    import random

    for audience in ("young_children", "high_school", "college", "professionals"):
        rng = random.Random(audience)
        for name, family in MATH_FAMILIES.items():
            for _ in range(20):
                p = family(rng, "energy", {"young_children": 1, "high_school": 2}.get(audience, 3))
                assert check_math(p["work"], p["answer"]).ok, (name, p)
    assert len(MATH_FAMILIES) == 10 and len(CODE_FAMILIES) == 12


def test_edu_score_heuristic_is_transparent_and_orders_pages():
    boiler = "Click here to subscribe! Accept cookies. Log in. Buy now. " * 10
    s_boiler, s_doc = edu_score(boiler), edu_score(DOC["text"])
    assert s_doc["score"] > s_boiler["score"] and "no_boilerplate" in s_doc["reason"]


# ------------------------------------------------------------------------------------------------ math verify
def test_safe_evaluator_computes_exactly_and_refuses_everything_else():
    assert evaluate("(120 - 45) / 3") == 25 and evaluate("2^10") == 1024 and evaluate("1,250 * 2") == 2500
    assert evaluate("0.1 + 0.2") == Fraction(3, 10) and evaluate("3x + 1", {"x": 2}) == 7
    assert evaluate("sqrt(16)") == 4 and abs(evaluate("2 ** 0.5") - 2 ** 0.5) < 1e-12
    for bad in ("__import__('os').system('true')", "(1).real", "[1, 2]", "x", "1 / 0", "9 ** 9 ** 9",
                "10 ** 31", "0.001 ** -20", "'a' * 3", "1e999", "lambda: 1", "a if b else c", "1" * 400):
        with pytest.raises(MathError):
            evaluate(bad)


def test_answers_units_and_tolerance_rules():
    q = parse_quantity("$1,250.40")
    assert (q.value, q.unit, q.decimals) == (Fraction("1250.4"), "$", 2)
    assert parse_quantity("2 1/2 cups").value == Fraction(5, 2) and parse_quantity("-3/4").value == Fraction(-3, 4)
    assert parse_quantity("x = 7").variable == "x" and parse_quantity("12.5 kilometres").unit == "km"
    assert answers_match("3.5 km", "3500 m") and answers_match("3500 metres", "3.5 km")
    assert not answers_match("3.5 kg", "3500 m") and not answers_match("3.6 km", "3500 m")
    assert check_expression("2/3", "0.67").ok and check_expression("2/3", "0.667").ok
    assert not check_expression("2/3", "1") .ok and not check_expression("2/3", "0.6").ok
    assert check_expression("30 / 120 * 100", "25%").ok and check_expression("30 / 120", "25%").ok
    assert not check_expression("30 / 120", "30%").ok
    assert check_equation("2*x = 5", "2.5").ok and check_equation("3x = 10", "3.33").ok
    assert not check_equation("3x = 10", "3").ok
    assert check_equation("x = x", "3").reason == "wrong_answer"        # the unknown must matter
    assert check_equation("x + y = 3", "1").reason == "bad_equation"
    assert check_equation("3*x + 5 = 26", "y = 7").reason == "wrong_answer"
    assert check_math("", "3").reason == "unparseable_work"


# ------------------------------------------------------------------------------------------------------ cache
def test_cache_round_trip_failures_not_stored_first_write_wins(tmp_path):
    with CompletionCache(tmp_path / "c.sqlite") as c:
        assert c.put_many([Response("k1", "first", None, 3, 4), Response("k2", None, "HTTP 500")]) == 1
        assert c.put_many([Response("k1", "second")]) == 0
        got = c.get_many(["k1", "k2", "k3", "k1"])
        assert list(got) == ["k1"] and got["k1"].text == "first" and got["k1"].cached
        assert (got["k1"].prompt_tokens, got["k1"].completion_tokens) == (3, 4) and len(c) == 1
        assert c.put_many([got["k1"]]) == 0  # cached responses are not written back
        many = [Response(f"m{i}", f"t{i}") for i in range(1200)]
        assert c.put_many(many) == 1200 and len(c.get_many([r.key for r in many])) == 1200
    ro = CompletionCache(tmp_path / "c.sqlite", readonly=True)
    assert "k1" in ro and "k2" not in ro
    with pytest.raises(PermissionError):
        ro.put_many([Response("k9", "x")])
    back = pickle.loads(pickle.dumps(ro))
    assert back.get_many(["k1"])["k1"].text == "first"


def _writer(path: str, n: int) -> None:
    c = CompletionCache(path)
    for i in range(n):
        c.put_many([Response(f"w{i}", f"text {i}", None, 1, 2)])
    os._exit(0)  # no close(): a killed worker keeps every batch it committed


def test_cache_survives_a_killed_writer_and_serves_concurrent_readers(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    CompletionCache(path).put_many([Response("w0", "text 0")])  # create the file
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_writer, args=(path, 200))
    proc.start()
    reader = CompletionCache(path, readonly=True)
    seen = 0
    while proc.is_alive():
        seen = max(seen, len(reader.get_many([f"w{i}" for i in range(200)])))
        time.sleep(0.005)
    proc.join()
    assert proc.exitcode == 0
    assert len(reader.get_many([f"w{i}" for i in range(200)])) == 200 and seen <= 200


def test_cache_dir_reads_every_writer(tmp_path):
    with CacheDir(tmp_path, "a") as a, CacheDir(tmp_path, "b") as b:
        a.put_many([Response("x", "from a")])
        b.put_many([Response("y", "from b")])
        assert {k: r.text for k, r in a.get_many(["x", "y", "z"]).items()} == {"x": "from a", "y": "from b"}


class CountingTeacher(ProceduralTeacher):
    """The real procedural teacher, counting what it is sent (to prove the cache stops re-sends)."""

    def __init__(self):
        super().__init__()
        self.sent: list[str] = []

    def generate(self, requests):
        self.sent += [r.key for r in requests]
        return super().generate(requests)


def _cached_run(plan, teacher, cache, docs, stop_after: int | None = None) -> list[dict]:
    rows = []
    for doc in docs:
        reqs = plan.format_input(doc, teacher.model_name)
        hits = cache.get_many([r.key for r in reqs])
        misses = [r for r in reqs if r.key not in hits]
        if stop_after is not None:
            misses = misses[:max(0, stop_after - len(teacher.sent))]
        fresh = teacher.generate(misses) if misses else []
        cache.put_many(fresh)
        got = {**hits, **{r.key: r for r in fresh}}
        rows += [row for req in reqs if req.key in got for row in plan.format_output(req, got[req.key]).rows]
    return rows


def test_a_restarted_run_never_resends_and_reproduces_the_dataset(tmp_path):
    plan = SynthesisPlan(SynthesisConfig(tasks=[TextbookSectionConfig(per_seed=2), ExerciseSetConfig(n_exercises=2),
                                                EduScoreConfig()]))
    total = sum(len(plan.format_input(d, MODEL)) for d in DOCS)
    reference = _run(plan, ProceduralTeacher(), DOCS)[0]
    first = CountingTeacher()
    with CompletionCache(tmp_path / "run.sqlite") as cache:
        _cached_run(plan, first, cache, DOCS, stop_after=total // 2)  # "killed" half way
    assert 0 < len(first.sent) < total
    second = CountingTeacher()
    with CompletionCache(tmp_path / "run.sqlite") as cache:
        rows = _cached_run(plan, second, cache, DOCS)
    assert len(second.sent) == total - len(first.sent) and not set(second.sent) & set(first.sent)
    assert rows == reference
    third = CountingTeacher()
    with CompletionCache(tmp_path / "run.sqlite") as cache:
        assert _cached_run(plan, third, cache, DOCS) == reference and third.sent == []


def test_generators_import_neither_ray_nor_pipeline():
    code = ("import sys, generators.tasks, generators.cache, generators.prompts, generators.verify.sandbox, "
            "generators.backends.procedural, filters.decontam\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('ray', 'pipeline')]\nassert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
