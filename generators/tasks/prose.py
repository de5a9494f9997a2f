"""Prose tasks: a textbook section and a worked example (Cosmopedia / phi-1.5 style), kept when long enough.

Prose is not machine-checkable, so kept rows have ``verified=False`` and ``check=None``; the stage's later
filters (dedupe, decontamination) still apply. Reject reason: ``too_short`` (fewer than ``min_words``
whitespace words, see `generators.tasks.base`).
"""
from __future__ import annotations

from typing import Literal

from generators.backends.base import Request
from generators.tasks.base import TOO_SHORT, Outcome, StyledTaskConfig, Task, word_count


class TextbookSectionConfig(StyledTaskConfig):
    task: Literal["textbook_section"] = "textbook_section"


class WorkedExampleConfig(StyledTaskConfig):
    task: Literal["worked_example"] = "worked_example"


class ProseTask(Task):
    def parse(self, request: Request, text: str) -> Outcome:
        text = text.strip()
        n = word_count(text)
        min_words = self.config.min_words  # type: ignore[attr-defined]
        if n < min_words:
            return Outcome(rejects=[self.reject(request, TOO_SHORT, f"{n} words < {min_words}", text=text,
                                                kind="prose")])
        return Outcome(rows=[self.row(request, text=text, kind="prose")])


class TextbookSectionTask(ProseTask):
    """A textbook section on the seed's topic for one audience."""

    name = "textbook_section"


class WorkedExampleTask(ProseTask):
    """A problem on the seed's topic, solved step by step, ending with "Answer: ..."."""

    name = "worked_example"
