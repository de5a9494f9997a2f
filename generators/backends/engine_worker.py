"""The vLLM engine in a child process: `python -m generators.backends.engine_worker` (run by `VLLMTeacher` when its
config names another interpreter, e.g. `.venv-vllm/bin/python`).

Protocol: one JSON object per line on stdin, one answer per line on stdout.
    {"op": "init", "config": {...VLLMConfig...}}  ->  {"ok": true, "info": {...}}   (starts the engine)
    {"op": "generate", "requests": [...]}         ->  {"ok": true, "responses": [...]}
    {"op": "close"}                               ->  exits (so does EOF on stdin)
Anything the engine or a library prints goes to stderr: the protocol has the original stdout to itself.
"""
from __future__ import annotations

import json
import os
import sys
import traceback


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)   # the protocol keeps the real stdout
    os.dup2(2, 1)                                    # everything else (vLLM logs, prints, children) -> stderr
    sys.stdout = sys.stderr

    from generators.backends._common import request_from_dict, response_to_dict
    from generators.backends.vllm_offline import VLLMConfig, VLLMTeacher

    def answer(obj: dict) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    teacher: VLLMTeacher | None = None
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            op = msg.get("op")
            if op == "init":
                teacher = VLLMTeacher(VLLMConfig(**msg["config"]))
                answer({"ok": True, "info": teacher.start()})
            elif op == "generate":
                if teacher is None:
                    raise RuntimeError("generate before init")
                out = teacher.generate([request_from_dict(d) for d in msg["requests"]])
                answer({"ok": True, "responses": [response_to_dict(r) for r in out]})
            elif op == "close":
                break
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as e:
            traceback.print_exc()
            answer({"ok": False, "error": f"{type(e).__name__}: {e}"})
    if teacher is not None:
        teacher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
