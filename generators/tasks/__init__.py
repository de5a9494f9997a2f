"""Tasks of the synthesize stage, and a plan that runs several over one stream of seed documents.

Tasks (config ``task:`` key -> class): ``textbook_section``, ``worked_example`` (prose), ``exercise_set``
(verified math and code exercises as JSON), ``edu_score`` (FineWeb-Edu style 0-5 annotation as JSON).
See `generators.tasks.base` for the format_input -> generate -> format_output/retry protocol.

`SynthesisPlan` picks, per seed document, ``styles_per_seed`` of its generation tasks (all when None) with a
seeded RNG keyed by the document id, so the choice is the same on every run and every worker; annotation tasks
(``edu_score``) always run. Each chosen task then picks its audiences the same way.
"""
from __future__ import annotations

import random
from typing import Annotated, Union

from pydantic import BaseModel, ConfigDict, Field

from generators.backends.base import Request, Response
from generators.tasks.base import (AUDIENCES, MALFORMED_JSON, REJECT_FIELDS, REQUEST_FAILED, RETRYABLE, ROW_FIELDS,
                                   SCHEMA_MISMATCH, TOO_SHORT, Outcome, Task, TaskConfig, topic_words)
from generators.tasks.edu import EduScoreConfig, EduScoreTask
from generators.tasks.exercises import ExerciseSetConfig, ExerciseSetTask
from generators.tasks.prose import TextbookSectionConfig, TextbookSectionTask, WorkedExampleConfig, WorkedExampleTask

TaskConfigs = Annotated[Union[TextbookSectionConfig, WorkedExampleConfig, ExerciseSetConfig, EduScoreConfig],
                        Field(discriminator="task")]
TASKS: dict[str, type[Task]] = {"textbook_section": TextbookSectionTask, "worked_example": WorkedExampleTask,
                                "exercise_set": ExerciseSetTask, "edu_score": EduScoreTask}


def build_task(config: TaskConfig) -> Task:
    """The task for a config (its ``task`` key picks the class)."""
    return TASKS[config.task](config)  # type: ignore[attr-defined]


def default_tasks() -> list:
    return [TextbookSectionConfig(), WorkedExampleConfig(), ExerciseSetConfig()]


class SynthesisConfig(BaseModel):
    """Which tasks run over the seeds, and how many generation styles each seed gets."""

    model_config = ConfigDict(extra="forbid")
    tasks: list[TaskConfigs] = Field(default_factory=default_tasks, min_length=1)
    styles_per_seed: int | None = Field(None, ge=1, description="generation tasks per seed (None: all of them)")
    seed: int = 0


class SynthesisPlan:
    """Several tasks behind the single-task interface: requests carry their task in ``meta["task"]``."""

    def __init__(self, config: SynthesisConfig | None = None):
        self.config = config or SynthesisConfig()
        names = [c.task for c in self.config.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"each task may appear once in a plan, got {names}")
        self.tasks: dict[str, Task] = {c.task: build_task(c) for c in self.config.tasks}

    @property
    def versions(self) -> dict[str, str]:
        return {name: t.version for name, t in self.tasks.items()}

    def styles_for(self, seed_id: str) -> list[str]:
        styled = [n for n, t in self.tasks.items() if t.styled]
        k = self.config.styles_per_seed
        if k is None or k >= len(styled):
            return styled
        chosen = set(random.Random(f"{self.config.seed}|styles|{seed_id}").sample(styled, k))
        return [n for n in styled if n in chosen]

    def format_input(self, doc: dict, model: str) -> list[Request]:
        seed_id = str(doc.get("id")) if isinstance(doc, dict) else ""
        chosen = set(self.styles_for(seed_id))
        out: list[Request] = []
        for name, task in self.tasks.items():
            if not task.styled or name in chosen:
                out.extend(task.format_input(doc, model))
        return out

    def task_of(self, request: Request) -> Task:
        return self.tasks[request.meta["task"]]

    def format_output(self, request: Request, response: Response) -> Outcome:
        return self.task_of(request).format_output(request, response)

    def retry_request(self, request: Request) -> Request | None:
        return self.task_of(request).retry_request(request)


__all__ = ["AUDIENCES", "MALFORMED_JSON", "REJECT_FIELDS", "REQUEST_FAILED", "RETRYABLE", "ROW_FIELDS",
           "SCHEMA_MISMATCH", "TOO_SHORT", "TASKS", "EduScoreConfig", "EduScoreTask", "ExerciseSetConfig",
           "ExerciseSetTask", "Outcome", "SynthesisConfig", "SynthesisPlan", "Task", "TaskConfig", "TaskConfigs",
           "TextbookSectionConfig", "TextbookSectionTask", "WorkedExampleConfig", "WorkedExampleTask", "build_task",
           "topic_words"]
