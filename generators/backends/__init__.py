"""Teacher backends behind one interface (`base.Teacher`: `generate(requests) -> responses`, with usage counts),
chosen by a `kind`-tagged config:
- `procedural` (default): no model; exercises with machine-checked answers from the seed's topic words;
- `openai`: any OpenAI-compatible endpoint (`vllm serve`, or another server);
- `vllm`: vLLM's offline `LLM` on one machine (optionally in another interpreter, e.g. a vLLM venv);
- `vllm-ray`: vLLM's engine inside Ray Data through `ray.data.llm` (the main GPU path of a cluster job).
Configs import nothing heavy; `build_teacher` imports a backend's engine only when it is built."""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from generators.backends._common import Usage
from generators.backends.base import Request, Response, SamplingParams, Teacher, request_key
from generators.backends.openai import OpenAIConfig
from generators.backends.procedural import ProceduralConfig
from generators.backends.ray_llm import RayLLMConfig
from generators.backends.vllm_offline import VLLMConfig

TeacherConfig = Annotated[Union[ProceduralConfig, OpenAIConfig, VLLMConfig, RayLLMConfig], Field(discriminator="kind")]


def build_teacher(cfg) -> Teacher:
    """The backend for a config (its `kind` picks the class)."""
    if isinstance(cfg, ProceduralConfig):
        from generators.backends.procedural import ProceduralTeacher

        return ProceduralTeacher(cfg)
    if isinstance(cfg, OpenAIConfig):
        from generators.backends.openai import OpenAITeacher

        return OpenAITeacher(cfg)
    if isinstance(cfg, VLLMConfig):
        from generators.backends.vllm_offline import VLLMTeacher

        return VLLMTeacher(cfg)
    if isinstance(cfg, RayLLMConfig):
        from generators.backends.ray_llm import RayLLMTeacher

        return RayLLMTeacher(cfg)
    raise TypeError(f"unknown teacher config {type(cfg).__name__}")


def teacher_label(cfg) -> str:
    """`kind:model` for the `teacher` column (no secrets)."""
    model = getattr(cfg, "model", None) or getattr(cfg, "model_source", None) or f"seed={getattr(cfg, 'seed', 0)}"
    return f"{cfg.kind}:{model}"


__all__ = ["OpenAIConfig", "ProceduralConfig", "RayLLMConfig", "Request", "Response", "SamplingParams", "Teacher",
           "TeacherConfig", "Usage", "VLLMConfig", "build_teacher", "request_key", "teacher_label"]
