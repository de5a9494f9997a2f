"""The generation protocol over a teacher: requests in, final outcomes out.

`Completer` holds the completion cache, the teacher (built from its config and started on first use) and a task
plan: each request is looked up in the cache (keyed by prompt, model, sampling parameters and task version), the
misses go to the teacher in batches (successes are stored), each response is parsed by its task, and an unusable
output is re-requested once per the task's `max_attempts` with a new seed (a new cache key). Usage is tallied once,
in a `Usage` (cache hits, what was sent, tokens, retries and their reasons, outputs retried).

    comp = Completer(teacher_cfg, plan, cache_dir, "worker-1")
    for request, outcome in comp.outcomes([r for doc in docs for r in comp.requests(doc)]): ...
    comp.take_usage().as_dict()

`annotate_texts` grades documents 0-5 (FineWeb-Edu style) through the same protocol. Plain code: no Ray, nothing
from `pipeline/` (a teacher that cannot start raises `TeacherError`, which the pipeline reports as one line).
"""
from __future__ import annotations

import re
import time
from typing import Any

from generators.backends import ProceduralConfig, TeacherConfig, Usage, build_teacher, teacher_label
from generators.backends.base import Request, Response
from generators.tasks import SynthesisPlan


class TeacherError(RuntimeError):
    """A teacher that could not start: a configuration problem, reported to the user as one line."""
    user_error = True  # pipeline.errors reports it like a UserError


class Completer:
    """Cache + teacher + the task protocol: requests in, final outcomes out (a retryable outcome is retried once
    per the task's `max_attempts`, with a new seed and cache key)."""

    def __init__(self, teacher_cfg, plan: SynthesisPlan, cache_dir: str, cache_name: str, batch: int = 256):
        from generators.cache import CacheDir

        self.teacher_cfg, self.plan, self.batch = teacher_cfg, plan, batch
        self.cache = CacheDir(cache_dir, cache_name)
        self._teacher = None
        self.usage = Usage()

    @property
    def model_name(self) -> str:
        """The model name in every request's cache key."""
        if isinstance(self.teacher_cfg, ProceduralConfig):
            return f"procedural-v1/seed={self.teacher_cfg.seed}"
        return getattr(self.teacher_cfg, "served_name", None) or self.teacher_cfg.model

    @property
    def label(self) -> str:
        """`kind:model` for the `teacher` column (no secrets)."""
        return teacher_label(self.teacher_cfg)

    @property
    def teacher(self):
        if self._teacher is None:
            self._teacher = build_teacher(self.teacher_cfg)
            start = getattr(self._teacher, "start", None)
            if start is not None:  # an engine that cannot start is a configuration problem: one line, now
                try:
                    start()
                except Exception as e:
                    errors = re.findall(r"(\w+Error: [^\n]*?)(?= File \"|$)", str(e)) or [str(e)]
                    raise TeacherError(f"teacher {self.label} did not start: {errors[-1][:400]}") from None
        return self._teacher

    def requests(self, doc: dict) -> list[Request]:
        """The requests of one seed document (`id`, `text`) under the plan."""
        return self.plan.format_input(doc, self.model_name)

    def complete(self, requests: list[Request]) -> dict[str, Response]:
        """Responses by key: from the cache, else from the teacher (stored when they succeed)."""
        found = self.cache.get_many([r.key for r in requests]) if requests else {}
        misses = [r for r in requests if r.key not in found]
        self.usage.add(list(found.values()))
        for i in range(0, len(misses), self.batch):
            part = misses[i:i + self.batch]
            t0 = time.perf_counter()
            got = self.teacher.generate(part)
            self.usage.add(got, time.perf_counter() - t0)
            self.cache.put_many([g for g in got if g.ok])
            found.update((g.key, g) for g in got)
        return found

    def outcomes(self, requests: list[Request]) -> list[tuple[Request, Any]]:
        """(the last request tried, its Outcome) for every request, in order."""
        pending = list(enumerate(requests))
        final: dict[int, tuple[Request, Any]] = {}
        while pending:
            got = self.complete([r for _, r in pending])
            retry = []
            for i, r in pending:
                out = self.plan.format_output(r, got[r.key])
                nxt = self.plan.retry_request(r) if out.retryable else None
                if nxt is not None:
                    self.usage.retried_outputs += 1
                    retry.append((i, nxt))
                else:
                    final[i] = (r, out)
            pending = retry
        return [final[i] for i in range(len(requests))]

    def take_usage(self) -> Usage:
        """The tally since the last call (a shard's share), starting a new one."""
        usage, self.usage = self.usage, Usage()
        return usage

    def close(self) -> None:
        self.cache.close()
        if self._teacher is not None:
            self._teacher.close()


def annotate_texts(docs: list[tuple[str, str]], teacher: dict, cache_dir: str, seed: int = 0) -> list[float | None]:
    """FineWeb-Edu grades (0-5) of (id, text) documents from a teacher, through the same cache and protocol as
    generation (versioned `edu_score` rubric, structured output); None where the teacher gave no valid grade."""
    from pydantic import TypeAdapter

    from generators.tasks import EduScoreConfig, SynthesisConfig

    cfg = TypeAdapter(TeacherConfig).validate_python(teacher)
    comp = Completer(cfg, SynthesisPlan(SynthesisConfig(tasks=[EduScoreConfig()], seed=seed)), cache_dir, "annotate")
    try:
        flat = [r for did, text in docs for r in comp.requests({"id": did, "text": text})]
        outs = {r.meta["seed_id"]: o for r, o in comp.outcomes(flat)}
    finally:
        comp.close()
    grades = []
    for did, _ in docs:
        o = outs.get(str(did))
        grades.append(float(o.rows[0]["score"]) if o is not None and o.rows else None)
    return grades
