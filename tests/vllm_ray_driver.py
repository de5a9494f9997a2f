"""Driver for the `vllm-ray` test: runs in the main venv, engine actors under `--python` (the vLLM venv).

    python tests/vllm_ray_driver.py --model DIR --python .venv-vllm/bin/python --temp-dir /tmp/x --requests R.json
        --out OUT.json

Starts its own local Ray (4 logical CPUs, own temp dir), sends the requests through the dataset-level path the
generate stage uses (`RayLLMTeacher.process` on a dataset with an extra `seed_id` column) and writes the rows to
OUT.json. (`generate(requests)` is the same path on a dataset built from the list; each call starts the engine
actors again, ~1 min on this machine, so the test runs the dataset path once.)
"""
from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--temp-dir", required=True)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import ray

    from generators.backends._common import request_from_dict
    from generators.backends.ray_llm import RayLLMConfig, RayLLMTeacher, requests_dataset, response_from_row

    t0 = time.perf_counter()
    ray.init(num_cpus=4, object_store_memory=512 * 1024**2, include_dashboard=False, _temp_dir=args.temp_dir)
    reqs = [request_from_dict(d) for d in json.loads(open(args.requests).read())]
    teacher = RayLLMTeacher(RayLLMConfig(model=args.model, dtype="float32", enforce_eager=True, cpu_kvcache_gb=1,
                                         batch_size=16, python=args.python))
    ds = requests_dataset(reqs, seed_id=[f"seed-{i}" for i in range(len(reqs))])
    t1 = time.perf_counter()
    rows = teacher.process(ds).take_all()
    dataset_s = time.perf_counter() - t1
    responses = [response_from_row(r) for r in rows]
    out = {"info": teacher.info, "dataset_s": dataset_s,
           "rows": [{"seed_id": r["seed_id"], "key": r["key"], "text": r["text"], "error": r["error"],
                     "prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"]} for r in rows],
           "completion_tokens": sum(r.completion_tokens for r in responses)}
    out["total_s"] = time.perf_counter() - t0
    ray.shutdown()
    with open(args.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
