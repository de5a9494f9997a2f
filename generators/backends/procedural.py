"""The default teacher, ``kind: "procedural"``: no model and no weights. It answers each request from its `meta`
(task, audience, topic words and extract of the seed) in the format an LLM would: JSON for ``exercise_set`` and
``edu_score``, prose for ``textbook_section`` and ``worked_example``.

Content is built, not invented:
- math word problems from ten families (addition/subtraction, equal groups, percentages, discounts, unit
  conversions, linear equations, means, rates, areas, fractions of a quantity), themed on the seed's topic words;
  every number is chosen so the exact answer is known, and the work expression computes it;
- Python exercises from twelve small reference functions (`procedural_families`): the code is their source
  (`inspect.getsource`), the tests are assert statements whose expected values come from calling the function on
  inputs built from the seed's words and sentences;
- prose that quotes the seed's sentences for its key terms and embeds worked problems, never claims of fact.
Every exercise it writes passes the tasks' verification (it writes no wrong answers on purpose).

``edu_score`` uses a transparent heuristic, one point each for: (1) substance (>= 50 words, >= 80% alphabetic),
(2) no boilerplate markers (cookie, subscribe, click here, ...), (3) explanatory language (>= 2 distinct markers
such as "because", "for example", "is called"), (4) well-formed prose (>= 3 sentences, mean sentence length
8-35 words), (5) depth (>= 150 words and a type/token ratio >= 0.4). The reason lists the points awarded.

Determinism: each completion is a function of (config seed, request key) only. Usage: prompt and completion
tokens are whitespace tokens.
"""
from __future__ import annotations

import json
import random
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from generators.backends.base import Request, Response
from generators.backends.procedural_families import SENTENCE_SPLIT, code_exercise, math_exercise, math_problem

VERSION = "procedural-v1"
FALLBACK_TOPICS = ("science", "history", "geography", "music")
_BOILERPLATE = ("cookie", "subscribe", "click here", "sign up", "log in", "login", "privacy policy",
                "all rights reserved", "buy now", "add to cart", "newsletter", "terms of use", "advertisement")
_EXPLAIN = ("because", "therefore", "for example", "for instance", "such as", "which means", "is called",
            "are called", "refers to", "defined as", "in order to", "as a result", "this means", "consequently")
_INTRO = {
    "young_children": "Let's explore {t0} together! We will look at the words {terms} and then try a small "
                      "puzzle with numbers.",
    "high_school": "This section looks at {t0} and the ideas around it, such as {rest}. First we read how the "
                   "source uses these words, then we work through a problem step by step.",
    "college": "This section examines {t0} in relation to {rest}. We first trace how the source passage uses "
               "these terms and then work a quantitative example in detail.",
    "professionals": "Scope: {t0}, together with {rest}. The notes below collect how the source uses each term "
                     "and work one quantitative example.",
}


class ProceduralConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["procedural"] = "procedural"
    seed: int = 0




def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _sentence_with(extract: str, word: str, used: set[str]) -> str | None:
    """The first unused sentence of the extract that contains `word` (else the first used one)."""
    found = [s.strip() for s in SENTENCE_SPLIT.split(extract) if word in s.lower() and 20 <= len(s) <= 300]
    fresh = [s for s in found if s not in used]
    return (fresh or found or [None])[0]


def _example(p: dict) -> str:
    return f"Example. {p['question']} {' '.join(p['steps'])} The answer is {p['answer']}. Check: {p['check']}"


def textbook_section(rng: random.Random, topics: list[str], audience: str | None, extract: str) -> str:
    """Intro, the source's sentences for up to three key terms, worked examples, review questions."""
    t0, terms = topics[0], topics[:4]
    rest = _join(terms[1:]) if len(terms) > 1 else "related ideas"
    paras = [_INTRO.get(audience or "", _INTRO["high_school"]).format(t0=t0, terms=_join(terms), rest=rest)]
    used: set[str] = set()
    for i, t in enumerate(terms[:3]):
        sent = _sentence_with(extract, t, used)
        if sent:
            used.add(sent)
            other = terms[(i + 1) % len(terms)]
            paras.append(f'The word "{t}" appears in this sentence of the source: "{sent}" Think about what {t} '
                         f'means there, and how it connects to {other}.')
    paras.append(_example(math_problem(rng, t0, audience)))
    extra = math_problem(rng, terms[-1], audience)
    paras.append(f"Review questions. 1. In your own words, explain what {t0} means in the source. 2. How is {t0} "
                 f"related to {terms[-1]}? 3. {extra['question']} (Answer: {extra['answer']}.)")
    while len(" ".join(paras).split()) < 160:
        paras.insert(-1, _example(math_problem(rng, rng.choice(terms), audience)))
    return "\n\n".join(paras)


def worked_example(rng: random.Random, topics: list[str], audience: str | None) -> str:
    """A problem solved in numbered steps, ending with "Answer: ...", a check and a similar problem."""
    p = math_problem(rng, topics[0], audience)
    steps = "\n".join(f"Step {i}: {s}" for i, s in enumerate(p["steps"], 1))
    parts = [f"Problem: {p['question']}", steps, f"Answer: {p['answer']}", f"Check: {p['check']}"]
    while len(" ".join(parts).split()) < 160:
        q = math_problem(rng, rng.choice(topics[:4]), audience)
        parts.append(f"A similar problem to try: {q['question']} Working through it the same way: "
                     f"{' '.join(q['steps'])} The answer is {q['answer']}.")
    return "\n\n".join(parts)


def edu_score(extract: str) -> dict:
    """The transparent five-point heuristic of the module docstring: ``{"reason": ..., "score": 0-5}``."""
    words = extract.split()
    low = extract.lower()
    sents = [s for s in re.split(r"[.!?]+", extract) if s.split()]
    alpha = sum(1 for w in words if any(c.isalpha() for c in w)) / max(1, len(words))
    mean_len = len(words) / max(1, len(sents))
    points = {
        "substance": len(words) >= 50 and alpha >= 0.8,
        "no_boilerplate": not any(b in low for b in _BOILERPLATE),
        "explanatory": sum(1 for e in _EXPLAIN if e in low) >= 2,
        "well_formed": len(sents) >= 3 and 8 <= mean_len <= 35,
        "depth": len(words) >= 150 and len({w.lower() for w in words}) / len(words) >= 0.4,
    }
    got = [k for k, v in points.items() if v]
    missing = [k for k, v in points.items() if not v]
    reason = (f"Heuristic score: points for {', '.join(got) or 'nothing'}"
              + (f"; none for {', '.join(missing)}." if missing else "."))
    return {"reason": reason, "score": len(got)}


class ProceduralTeacher:
    """`Teacher` with no model: deterministic, verified content from each request's meta."""

    kind = "procedural"

    def __init__(self, config: ProceduralConfig | None = None):
        self.config = config or ProceduralConfig()
        self.model_name = f"{VERSION}/seed={self.config.seed}"

    def generate(self, requests: list[Request]) -> list[Response]:
        return [self._one(r) for r in requests]

    def _one(self, req: Request) -> Response:
        try:
            text = self.complete(req)
        except Exception as e:  # one bad request never fails the batch
            return Response(key=req.key, text=None, error=f"procedural: {type(e).__name__}: {e}"[:300])
        prompt = sum(len(str(m.get("content", "")).split()) for m in req.messages)
        return Response(key=req.key, text=text, prompt_tokens=prompt, completion_tokens=len(text.split()))

    def complete(self, req: Request) -> str:
        """The completion text for one request."""
        m = req.meta
        task, audience, extract = m.get("task"), m.get("audience"), str(m.get("extract") or "")
        topics = [str(t) for t in (m.get("topics") or []) if str(t).strip()] or list(FALLBACK_TOPICS)
        rng = random.Random(f"{self.config.seed}|{req.key}")
        if task == "textbook_section":
            return textbook_section(rng, topics, audience, extract)
        if task == "worked_example":
            return worked_example(rng, topics, audience)
        if task == "exercise_set":
            kinds = list(m.get("kinds") or ["math", "code"])
            items = []
            for _ in range(int(m.get("n_exercises", 3))):
                if rng.choice(kinds) == "code":
                    items.append(code_exercise(rng, topics, extract))
                else:
                    items.append(math_exercise(rng, rng.choice(topics[:4]), audience))
            return json.dumps({"exercises": items}, ensure_ascii=False)
        if task == "edu_score":
            return json.dumps(edu_score(extract), ensure_ascii=False)
        raise ValueError(f"no procedural writer for task {task!r}")

    def close(self) -> None:
        pass
