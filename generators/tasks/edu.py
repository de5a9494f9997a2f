"""FineWeb-Edu style annotation: a teacher scores a seed extract's educational value 0-5 (additive rubric,
`prompts/edu_score.v1.txt`) as JSON ``{"reason": ..., "score": ...}``. The rows train a quality classifier
(`filters/quality_train.py`): ``text`` is the extract the teacher saw (so label and text match), ``score`` the
integer label, ``rationale`` the teacher's reason. Malformed JSON or a schema violation (a score outside 0-5,
which some structured-output engines do not prevent) is retryable once, then quarantined.
"""
from __future__ import annotations

from typing import Literal

from generators.backends.base import Request
from generators.tasks.base import MALFORMED_JSON, SCHEMA_MISMATCH, Outcome, Task, TaskConfig, parse_json_text
from generators.tasks.schema import validate


class EduScoreConfig(TaskConfig):
    task: Literal["edu_score"] = "edu_score"


class EduScoreTask(Task):
    name = "edu_score"
    styled = False

    def parse(self, request: Request, text: str) -> Outcome:
        try:
            obj = parse_json_text(text)
        except ValueError as e:
            return Outcome(error=MALFORMED_JSON, detail=str(e))
        errors = validate(obj, self.schema)
        if errors:
            return Outcome(error=SCHEMA_MISMATCH, detail="; ".join(errors[:3]))
        row = self.row(request, text=request.meta.get("extract", ""), kind="annotation", score=int(obj["score"]),
                       rationale=obj["reason"].strip(), verified=True, check="schema")
        return Outcome(rows=[row])
