"""`kind: vllm-ray` — vLLM's engine inside Ray Data through `ray.data.llm` (Ray 2.60: `vLLMEngineProcessorConfig` +
`build_processor`). The main GPU path of a cluster job; on CPU it runs with the settings measured in the notes.

Two entry points:

- dataset level (what the generate stage calls on its Ray Dataset of cache misses):
      ds = requests_dataset(requests)            # or any dataset with `key` and `request` (request_json) columns
      out = RayLLMTeacher(cfg).process(ds)       # lazy; columns key, text, error, prompt_tokens,
                                                 #   completion_tokens + every other input column except `request`
  Rows stream through: preprocess (request JSON -> chat template applied and tokenized, or a plain prompt, plus
  per-row sampling params; in the caller's venv) -> the engine actors -> one normalising map. A row the engine
  rejects (a prompt over max_model_len, ...) comes back with `error` set (`should_continue_on_error`), never failing
  the dataset.
- per batch: `RayLLMTeacher(cfg).generate(requests) -> list[Response]` builds a dataset from the list and collects
  it (starting the engine actors each call: use the dataset path for anything big).

Per-row structured output is `sampling_params["structured_outputs"] = {"json": "<schema as a JSON string>"}`: a
string, because rows with different schemas would otherwise become one Arrow struct with every key (None-filled);
rows without a schema leave the key out (see `_Preprocess` for the Ray 2.60 block-concatenation limit behind this,
and behind doing the chat template in the preprocess instead of Ray's chat-template stage).
On CPU (`device: cpu`, or `auto` on a cluster without GPUs): engine bundles `{"CPU": cpus_per_replica}` (the default
asks for a GPU and waits forever), `log_engine_metrics=False` (the metrics logger needs Ray Serve), structured
outputs with xgrammar and `disable_any_whitespace` at engine level, and small CPU reservations (`stage_num_cpus`) for
the preprocess/postprocess maps. The cluster needs spare logical CPUs: on a 2-CPU local Ray it deadlocked; 4 works.

`python: .venv-vllm/bin/python` runs the engine actors under that interpreter with
`runtime_env={"py_executable": ...}` while the driver, preprocess and postprocess stay in the caller's venv (which
needs `ray[data]` and transformers, no vLLM). Ray must be the same version in both.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._common import Usage, failed, find_chat_template, render_plain_prompt, request_to_dict
from .base import Request, Response

log = logging.getLogger(__name__)

ERROR_COLUMN = "__inference_error__"


class RayLLMConfig(BaseModel):
    """vLLM in Ray Data. Engine fields become `engine_kwargs`; the rest configure the processor."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["vllm-ray"] = "vllm-ray"
    model: str = Field(description="HF model dir (visible on every node) or hub name")
    served_name: str | None = Field(None, description="name recorded as the teacher (default: `model`)")
    dtype: str = "auto"
    max_model_len: int | None = Field(None, ge=16)
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    enforce_eager: bool = False
    seed: int = 0
    max_num_seqs: int | None = Field(None, ge=1)
    trust_remote_code: bool = False
    batch_size: int = Field(32, ge=1, description="rows per batch sent to an engine actor")
    replicas: int = Field(1, ge=1, description="engine actors (the processor's `concurrency`)")
    max_concurrent_batches: int = Field(8, ge=1, description="batches in flight per engine actor")
    map_concurrency: int | None = Field(None, ge=1, description="concurrent preprocess/postprocess tasks (None: "
                                        "2 per replica; each task worker loads the tokenizer once)")
    chat: Literal["auto", "always", "never"] = Field(
        "auto", description="auto: apply the chat template when the tokenizer has one (or `chat_template` is "
        "set), else send the messages rendered as plain text")
    chat_template: str | None = Field(None, description="path to a Jinja chat template overriding the model's")
    device: Literal["auto", "gpu", "cpu"] = Field("auto", description="auto: cpu when the cluster has no GPU")
    cpus_per_replica: float = Field(1.0, gt=0, description="CPU bundle of an engine actor on CPU")
    stage_num_cpus: float | None = Field(None, gt=0, description="CPUs reserved by the preprocess/postprocess "
                                         "maps (None: 0.1 on CPU, Ray's default on GPU)")
    structured_outputs_backend: Literal["auto", "xgrammar", "guidance", "outlines", "lm-format-enforcer"] | None = None
    disable_any_whitespace: bool | None = Field(None, description="engine-level; None: on for CPU")
    cpu_kvcache_gb: int | None = Field(None, ge=1, description="VLLM_CPU_KVCACHE_SPACE for the engine actors")
    python: str | None = Field(None, description="interpreter for the engine actors (runtime_env py_executable), "
                               "e.g. .venv-vllm/bin/python; None: the cluster's default")
    accelerator_type: str | None = None
    log_engine_metrics: bool = Field(False, description="export vLLM engine metrics to Ray's Prometheus endpoint "
                                     "(GPU only; its logger needs Ray Serve installed)")
    address: str | None = Field(None, description="Ray address for `generate()` when Ray is not initialised yet "
                                "(None: RAY_ADDRESS or a new local instance)")
    num_cpus: int | None = Field(None, ge=1, description="logical CPUs of a new local Ray instance")


class RayLLMTeacher:
    """The `vllm-ray` backend: `process(dataset)` (lazy, dataset level) and `generate(requests)` (per batch)."""

    def __init__(self, cfg: RayLLMConfig):
        self.cfg = cfg
        self.model_name = cfg.served_name or cfg.model
        self.usage = Usage()
        self._processor = None
        self._device: str | None = None
        self.info: dict = {}

    # ---- set-up -----------------------------------------------------------------------------------------------
    def _ensure_ray(self) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.cfg.address, num_cpus=self.cfg.num_cpus, include_dashboard=False,
                     ignore_reinit_error=True, log_to_driver=True)

    def _resolve_device(self) -> str:
        if self._device is None:
            if self.cfg.device != "auto":
                self._device = self.cfg.device
            else:
                import ray

                self._device = "gpu" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"
        return self._device

    def _chat(self) -> tuple[bool, str | None]:
        """(apply a chat template?, override template text)."""
        tpl = Path(self.cfg.chat_template).read_text() if self.cfg.chat_template else None
        if self.cfg.chat == "never":
            return False, None
        if self.cfg.chat == "always" or tpl:
            return True, tpl
        if Path(self.cfg.model).is_dir() and find_chat_template(self.cfg.model) is not None:
            return True, None
        return getattr(_tokenizer(self.cfg.model, self.cfg.trust_remote_code), "chat_template", None) is not None, None

    def processor_config(self):
        """The `vLLMEngineProcessorConfig` this teacher runs (Ray must be initialised: it reads the cluster's GPUs
        when `device: auto`)."""
        from ray.data.llm import vLLMEngineProcessorConfig

        cfg = self.cfg
        cpu = self._resolve_device() == "cpu"
        # disable_log_stats: no per-request `metrics` struct (rows that have it and error rows without it would
        # be Arrow blocks Ray cannot concatenate when a batch holds only error rows)
        engine: dict[str, Any] = {"dtype": cfg.dtype, "tensor_parallel_size": cfg.tensor_parallel_size,
                                  "pipeline_parallel_size": cfg.pipeline_parallel_size, "seed": cfg.seed,
                                  "enforce_eager": cfg.enforce_eager, "trust_remote_code": cfg.trust_remote_code,
                                  "disable_log_stats": True}
        if not cpu:
            engine["gpu_memory_utilization"] = cfg.gpu_memory_utilization
        if cfg.max_model_len:
            engine["max_model_len"] = cfg.max_model_len
        if cfg.max_num_seqs:
            engine["max_num_seqs"] = cfg.max_num_seqs
        so: dict[str, Any] = {}
        backend = cfg.structured_outputs_backend or ("xgrammar" if cpu else None)
        if backend:
            so["backend"] = backend
        if cfg.disable_any_whitespace if cfg.disable_any_whitespace is not None else cpu:
            so["disable_any_whitespace"] = True
        if so:
            engine["structured_outputs_config"] = so
        runtime_env: dict[str, Any] = {}
        if cfg.python:
            runtime_env["py_executable"] = str(Path(cfg.python).absolute())
        env_vars = {"TOKENIZERS_PARALLELISM": "false"}
        if cfg.cpu_kvcache_gb:
            env_vars["VLLM_CPU_KVCACHE_SPACE"] = str(cfg.cpu_kvcache_gb)
        runtime_env["env_vars"] = env_vars
        # No chat-template/tokenize/detokenize stages: the preprocess renders and tokenizes (see _Preprocess) and
        # the engine detokenizes, so only the engine stage holds actors.
        kwargs: dict[str, Any] = dict(
            model_source=cfg.model, engine_kwargs=engine, batch_size=cfg.batch_size, concurrency=cfg.replicas,
            max_concurrent_batches=cfg.max_concurrent_batches, should_continue_on_error=True,
            chat_template_stage=False, tokenize_stage=False, detokenize_stage=False,
            runtime_env=runtime_env, accelerator_type=cfg.accelerator_type)
        if cpu:
            n = cfg.tensor_parallel_size * cfg.pipeline_parallel_size
            kwargs["placement_group_config"] = {"bundles": [{"CPU": cfg.cpus_per_replica}] * n}
        kwargs["log_engine_metrics"] = cfg.log_engine_metrics and not cpu
        self.info = {"device": "cpu" if cpu else "gpu", "chat": self._chat()[0], "structured_outputs": so,
                     "python": runtime_env.get("py_executable")}
        return vLLMEngineProcessorConfig(**kwargs)

    def processor(self):
        """The Ray Data LLM processor (built once): `processor(ds)` maps request rows to engine output rows."""
        if self._processor is None:
            from ray.data.llm import build_processor

            self._ensure_ray()
            pcfg = self.processor_config()
            use_chat, tpl = self._chat()
            self._processor = build_processor(
                pcfg, preprocess=_Preprocess(self.cfg.model, use_chat, tpl, self.cfg.trust_remote_code),
                postprocess=None, preprocess_map_kwargs=self._map_kwargs(), postprocess_map_kwargs=self._map_kwargs())
        return self._processor

    def _map_kwargs(self) -> dict:
        """Resources of the row maps around the engine: few task workers (a task storm of workers each importing
        transformers starves a small machine), small CPU reservations on CPU."""
        import ray.data

        cpus = self.cfg.stage_num_cpus if self.cfg.stage_num_cpus is not None else (
            0.1 if self._resolve_device() == "cpu" else None)
        kw: dict[str, Any] = {"compute": ray.data.TaskPoolStrategy(size=self.cfg.map_concurrency
                                                                   or 2 * self.cfg.replicas)}
        if cpus is not None:
            kw["num_cpus"] = cpus
        return kw

    # ---- dataset level ----------------------------------------------------------------------------------------
    def process(self, ds, keep_columns: list[str] | None = None):
        """Lazy: a dataset of request rows (`key`, `request` = `json.dumps(request_to_dict(r))`, any other columns)
        -> rows with `key`, `text`, `error`, `prompt_tokens`, `completion_tokens` and the other input columns
        (`keep_columns`, default: all but `request`)."""
        if keep_columns is None:
            keep_columns = [c for c in ds.schema().names if c not in ("key", "request")]
        return self.processor()(ds).map(_Finalize(list(keep_columns)), **self._map_kwargs())

    # ---- per batch --------------------------------------------------------------------------------------------
    def generate(self, requests: list[Request]) -> list[Response]:
        if not requests:
            return []
        import ray.data

        t0 = time.perf_counter()
        self._ensure_ray()
        rows = [{"idx": i, **request_row(r)} for i, r in enumerate(requests)]
        ds = ray.data.from_items(rows, override_num_blocks=-(-len(rows) // self.cfg.batch_size))
        got: dict[int, dict] = {}
        try:
            for row in self.process(ds, keep_columns=["idx"]).take_all():
                got[int(row["idx"])] = row
        except Exception as e:  # the whole dataset failed (engine could not start, actor died for good, ...)
            log.exception("vllm-ray batch failed")
            out = [failed(r.key, "engine_error", f"{type(e).__name__}: {e}") for r in requests]
            self.usage.add(out, time.perf_counter() - t0)
            return out
        out = []
        for i, r in enumerate(requests):
            row = got.get(i)
            out.append(failed(r.key, "lost", "no output row") if row is None else response_from_row(row))
        self.usage.add(out, time.perf_counter() - t0)
        return out

    def close(self) -> None:
        self._processor = None


def request_row(r: Request) -> dict:
    """One input row of the dataset-level path."""
    return {"key": r.key, "request": json.dumps(request_to_dict(r), ensure_ascii=False)}


def requests_dataset(requests: list[Request], **extra_columns: list):
    """A Ray Dataset of request rows (plus optional parallel columns, e.g. seed_id=[...])."""
    import ray.data

    rows = [request_row(r) for r in requests]
    for name, values in extra_columns.items():
        for row, v in zip(rows, values, strict=True):
            row[name] = v
    return ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows) // 32, 1000)))


def response_from_row(row: dict) -> Response:
    return Response(key=row["key"], text=row["text"], error=row["error"] or None,
                    prompt_tokens=int(row["prompt_tokens"] or 0), completion_tokens=int(row["completion_tokens"] or 0))


_TOKENIZERS: dict[tuple[str, bool], Any] = {}


def _tokenizer(model: str, trust_remote_code: bool = False):
    """The model's HF tokenizer, once per worker process."""
    key = (model, trust_remote_code)
    if key not in _TOKENIZERS:
        from transformers import AutoTokenizer

        _TOKENIZERS[key] = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
    return _TOKENIZERS[key]


class _Preprocess:
    """request JSON -> what the engine stage reads: the prompt (chat template applied and tokenized here, without
    adding special tokens again, as vLLM's own chat path does; plain prompts go as text) and per-row
    sampling_params. Runs in the caller's venv (transformers needed for chat, not vLLM).

    Optional keys are left out, never None. Ray 2.60 cannot concatenate blocks where a struct field is a struct in
    one and None-typed in the other ("'pyarrow.lib.DataType' object is not iterable"): a missing field it back-fills,
    and after the engine stage pops `sampling_params` nothing optional is carried on. (This is also why there is no
    chat-template stage: it carries `sampling_params` through an Arrow round trip, where a missing key becomes None.)
    """

    def __init__(self, model: str, chat: bool, chat_template: str | None = None, trust_remote_code: bool = False):
        self.model, self.chat, self.chat_template = model, chat, chat_template
        self.trust_remote_code = trust_remote_code

    def __call__(self, row: dict) -> dict:
        req = json.loads(row["request"])
        p = req["params"]
        sp: dict[str, Any] = {"n": 1, "temperature": p["temperature"], "top_p": p["top_p"],
                              "max_tokens": p["max_tokens"]}
        if p.get("seed") is not None:
            sp["seed"] = p["seed"]
        if p.get("stop"):
            sp["stop"] = list(p["stop"])
        if req.get("schema") is not None:
            sp["structured_outputs"] = {"json": json.dumps(req["schema"])}
        out: dict[str, Any] = {"sampling_params": sp}
        if self.chat:
            tok = _tokenizer(self.model, self.trust_remote_code)
            prompt = tok.apply_chat_template(req["messages"], tokenize=False, add_generation_prompt=True,
                                             chat_template=self.chat_template)
            out["prompt"] = prompt
            out["tokenized_prompt"] = tok(prompt, add_special_tokens=False)["input_ids"]
        else:
            out["prompt"] = render_plain_prompt(req["messages"])
        return out


class _Finalize:
    """Engine output row (success or `__inference_error__`) -> the narrow response row."""

    def __init__(self, keep: list[str]):
        self.keep = keep

    def __call__(self, row: dict) -> dict:
        err = row.get(ERROR_COLUMN) or ""
        out = {c: row.get(c) for c in self.keep}
        out.update(key=row["key"], text=None if err else (row.get("generated_text") or ""),
                   error=f"engine_error: {err}"[:500] if err else None,
                   prompt_tokens=0 if err else int(row.get("num_input_tokens") or 0),
                   completion_tokens=0 if err else int(row.get("num_generated_tokens") or 0))
        return out
