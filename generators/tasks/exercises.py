"""Exercise sets: a teacher writes several exercises as JSON (`prompts/exercise_set.v1.schema.json`, sent as
`Request.schema` for structured output); each exercise is verified on its own and kept only when it passes.

- ``math``: a word problem with ``answer`` and ``work`` (an arithmetic expression over the question's numbers, or
  an equation in one unknown). `generators.verify.math.check_math` evaluates the work and compares (tolerances in
  that module). Grounding (on by default): every number the work uses appears in the question or is a common
  constant (small integers, powers of ten, time and unit-conversion factors), so a correct calculation of some
  other problem is not accepted.
- ``code``: a Python function with at least ``min_tests`` ``assert`` statements that call it, checked by
  `generators.verify.sandbox`: the code runs in a separate process (no network, CPU/memory/time/output limits, a
  fresh forked worker per test) and each test is judged outside it on plain data (`generators.verify.judge`), so
  results that lie about equality, truthiness or type, patched builtins and tests that prepare state for other
  tests do not pass. A test that cannot be checked (it uses names that are neither the code's nor allowed
  builtins, assignment expressions, lambdas, ...) rejects the exercise (``bad_tests``); a test that calls nothing of
  the code (``assert True``) does not count toward ``min_tests``. The code exercises of one response share one
  sandboxed interpreter start (`run_batch`).

Rows: ``text`` is the exercise as training text (problem, solution, answer; or task, explanation, code, tests),
``question``, ``answer`` (the final answer, or the code), ``check`` (how it was verified, e.g.
``math:expression (120 - 45) / 3 = 25`` or ``python_tests 4/4``), ``verified=True``.
Item reject reasons: ``kind_not_requested``, ``too_short``, ``unparseable_answer``, ``unparseable_work``,
``bad_equation``, ``wrong_answer``, ``ungrounded_work``, ``too_few_tests``, ``bad_tests``, and ``code_<status>``
for a sandbox verdict other than passed (``code_failed``, ``code_timeout``, ``code_memory``, ``code_forbidden``,
``code_crashed``, ``code_output_limit``). Response errors: ``malformed_json``, ``schema_mismatch`` (retryable).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Literal

from pydantic import Field

from generators.backends.base import Request
from generators.tasks.base import (MALFORMED_JSON, SCHEMA_MISMATCH, TOO_SHORT, Outcome, StyledTaskConfig, Task,
                                   parse_json_text, word_count)
from generators.tasks.schema import validate
from generators.verify.judge import TestError, compile_test, solution_names
from generators.verify.math import check_math, numbers_in
from generators.verify.sandbox import SandboxLimits, run_batch

ExerciseKind = Literal["math", "code"]

# Numbers a work expression may use without them being in the question.
GROUNDING_CONSTANTS = frozenset(Fraction(x) for x in (
    *range(0, 13), 24, 30, 31, 36, 52, 60, 100, 365, 1000, 3600, 10000, 86400, 100000, 1000000,
    "0.5", "0.25", "0.1", "0.01", "0.001", "2.54", "0.0254", "0.3048", "0.9144", "1.609344", "1609.344",
    "0.45359237", "453.59237", "28.349523125", "1.8", "32", "3.6", "3.785", "0.621371"))


class ExerciseSetConfig(StyledTaskConfig):
    task: Literal["exercise_set"] = "exercise_set"
    n_exercises: int = Field(3, ge=1, le=10, description="exercises asked for per request")
    kinds: list[ExerciseKind] = Field(default_factory=lambda: ["math", "code"], min_length=1)
    min_words: int = Field(15, ge=0, description="minimum words of question + solution, per exercise")
    min_tests: int = Field(3, ge=1, description="assert statements that call the code, per code exercise")
    require_grounded: bool = Field(True, description="math work may only use the question's numbers + constants")
    sandbox: SandboxLimits = Field(default_factory=SandboxLimits)


def math_text(ex: dict) -> str:
    return f"Problem: {ex['question'].strip()}\n\nSolution: {ex['solution'].strip()}\n\nAnswer: {ex['answer'].strip()}"


def code_text(ex: dict) -> str:
    parts = [ex["question"].strip()]
    if ex["solution"].strip():
        parts.append(ex["solution"].strip())
    parts.append(f"```python\n{ex['code'].strip()}\n```")
    parts.append("Tests:\n```python\n" + "\n".join(t.strip() for t in ex["tests"]) + "\n```")
    return "\n\n".join(parts)


class ExerciseSetTask(Task):
    """Verified math word problems and Python function exercises."""

    name = "exercise_set"
    config: ExerciseSetConfig

    def render_fields(self, extract: str, audience: str | None) -> dict:
        return {"n_exercises": self.config.n_exercises, "kinds": " and ".join(f'"{k}"' for k in self.config.kinds)}

    def meta_fields(self) -> dict:
        return {"n_exercises": self.config.n_exercises, "kinds": list(self.config.kinds)}

    def parse(self, request: Request, text: str) -> Outcome:
        try:
            obj = parse_json_text(text)
        except ValueError as e:
            return Outcome(error=MALFORMED_JSON, detail=str(e))
        errors = validate(obj, self.schema)
        if errors:
            return Outcome(error=SCHEMA_MISMATCH, detail="; ".join(errors[:3]))
        decided: dict[int, tuple[dict, str | None, str]] = {}
        pending: list[tuple[int, dict, dict]] = []  # code exercises that passed the static checks
        for i, ex in enumerate(obj["exercises"]):
            row, reason, detail = self.verify_item(request, i, ex)
            if reason is None and ex["kind"] == "code":
                pending.append((i, row, ex))
            else:
                decided[i] = (row, reason, detail)
        # all code exercises of one response in one sandboxed interpreter (each in a fresh namespace)
        results = run_batch([(ex["code"], _tests(ex)) for _, _, ex in pending], self.config.sandbox)
        for (i, row, _), res in zip(pending, results):
            check = f"python_tests {res.passed}/{res.total}"
            if res.status == "passed":
                row.update(verified=True, check=check)
                decided[i] = (row, None, "")
            else:
                decided[i] = (row, f"code_{res.status}", res.detail)
        out = Outcome()
        for i in sorted(decided):
            row, reason, detail = decided[i]
            if reason is None:
                out.rows.append(row)
            else:
                out.rejects.append(self.reject(request, reason, detail, i, **{k: row[k] for k in
                                                                             ("text", "kind", "question", "answer")}))
        return out

    def verify_item(self, request: Request, index: int, ex: dict) -> tuple[dict, str | None, str]:
        """(row, reject reason or None, detail) for one exercise of a schema-valid set; code exercises get only
        their static checks here (the sandbox runs them in `parse`, all at once)."""
        kind = ex["kind"]
        is_math = kind == "math"
        text = math_text(ex) if is_math else code_text(ex)
        row = self.row(request, index, text=text, kind=kind, question=ex["question"].strip(),
                       answer=(ex["answer"] if is_math else ex["code"]).strip())
        if kind not in self.config.kinds:
            return row, "kind_not_requested", kind
        n = word_count(ex["question"]) + word_count(ex["solution"])
        if n < self.config.min_words:
            return row, TOO_SHORT, f"{n} words < {self.config.min_words}"
        if not is_math:
            reason, detail = self.check_code_static(ex)
            return row, reason, detail
        reason, detail, check = self.check_math(ex)
        if reason is None:
            row.update(verified=True, check=check)
        return row, reason, detail

    def check_math(self, ex: dict) -> tuple[str | None, str, str]:
        work = ex["work"].strip()
        result = check_math(work, ex["answer"])
        if not result.ok:
            return result.reason, result.detail, result.check
        if self.config.require_grounded:
            given = set(numbers_in(ex["question"]))
            stray = [n for n in numbers_in(work) if n not in given and n not in GROUNDING_CONSTANTS]
            if stray:
                return "ungrounded_work", f"work uses {', '.join(str(n) for n in stray[:5])} not in the question", ""
        value = "" if result.value is None else f" = {result.value:.10g}"
        return None, "", f"{result.check} {work}{value if '=' not in work else ''}".strip()

    def check_code_static(self, ex: dict) -> tuple[str | None, str]:
        """Tests the judge can check, enough of them calling the code (a syntax error in the code is left to the
        sandbox: ``code_crashed``)."""
        tests = _tests(ex)
        if not ex["code"].strip():
            return "bad_tests", "no code"
        names = solution_names(ex["code"]) or set()
        calling = 0
        for i, t in enumerate(tests):
            try:
                calling += bool(compile_test(t, names).probes)
            except TestError as e:
                return "bad_tests", f"test {i} {e}"
        if calling < self.config.min_tests:
            return "too_few_tests", f"{calling} tests call the code < {self.config.min_tests}"
        return None, ""


def _tests(ex: dict) -> list[str]:
    return [t.strip() for t in ex["tests"] if t.strip()]
