"""A small OpenAI-compatible server that injects faults, for the `openai` backend's tests (stdlib only).

    python tests/fake_openai_server.py --port P --log LOG.jsonl [--fault-rate 0.5] [--faults 500,429,slow,...]

POST /v1/chat/completions and /v1/completions answer deterministically from the prompt: with a `response_format`
json_schema, a JSON object {"answer": int, "echo": str}; otherwise "reply: <prompt start>". GET /v1/models lists
one model. A prompt is faulty when hash(prompt) < fault-rate; its first `--fail-first` attempts fail with the fault
hash(prompt) picks from `--faults`:

  500, 502, 503   that status with a JSON error body            429  status 429 with `Retry-After: 0.1`
  slow            sleeps `--slow-s` before answering (the client should time out first)
  malformed       200 with a body that is not JSON                truncated  200, Content-Length larger than the body
  drop            closes the connection without an answer        empty      200 with `"choices": []`

Every attempt is appended to `--log` as one JSON line {"prompt": sha, "attempt": n, "outcome": ...}; the attempt
counts are read back from it at start, so a killed and restarted server keeps counting. `--require-key K` answers
401 unless `Authorization: Bearer K`; `--no-chat-template` answers 400 on chat like vLLM for a model without one.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _h(s: str) -> int:
    return int(hashlib.sha256(s.encode()).hexdigest()[:8], 16)


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.attempts: Counter = Counter()
        self.log = Path(args.log)
        if self.log.exists():
            for line in self.log.read_text().splitlines():
                try:
                    self.attempts[json.loads(line)["prompt"]] += 1
                except (ValueError, KeyError):
                    pass  # a line cut by a kill

    def next_attempt(self, pid: str) -> int:
        with self.lock:
            n = self.attempts[pid]
            self.attempts[pid] += 1
            return n

    def record(self, **row) -> None:
        with self.lock, self.log.open("a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()


def make_handler(state: State):
    args = state.args
    faults = [f for f in args.faults.split(",") if f]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):  # quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict | None = None, length: int | None = None):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(body)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                models = {"object": "list", "data": [{"id": args.model, "object": "model"}]}
                self._send(200, json.dumps(models).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            try:
                req = json.loads(self.rfile.read(n))
            except ValueError:
                return self._send(400, b'{"error": "bad json"}')
            if args.require_key and self.headers.get("Authorization") != f"Bearer {args.require_key}":
                return self._send(401, b'{"error": "unauthorized"}')
            chat = self.path.rstrip("/") == "/v1/chat/completions"
            if not chat and self.path.rstrip("/") != "/v1/completions":
                return self._send(404, b'{"error": "not found"}')
            if chat and args.no_chat_template:
                return self._send(400, json.dumps({"error": {"message": "As of transformers v4.44, default chat "
                                  "template is no longer allowed, so you must provide a chat template if the "
                                  "tokenizer does not define one."}}).encode())
            if req.get("model") != args.model:
                return self._send(404, json.dumps({"error": f"model {req.get('model')!r} not served"}).encode())
            prompt = json.dumps(req["messages"], sort_keys=True) if chat else req["prompt"]
            pid = hashlib.sha256(prompt.encode()).hexdigest()[:16]
            attempt = state.next_attempt(pid)
            faulty = _h("f" + pid) / 0xFFFFFFFF < args.fault_rate and faults
            fault = faults[_h("k" + pid) % len(faults)] if faulty and attempt < args.fail_first else None
            if args.guided_seen and any(k.startswith("guided_") for k in req):
                fault = "guided"
            state.record(prompt=pid, attempt=attempt, outcome=fault or "ok", t=time.time(),
                         schema="response_format" in req or "structured_outputs" in req)
            if fault in ("500", "502", "503"):
                return self._send(int(fault), json.dumps({"error": {"message": "injected"}}).encode())
            if fault == "429":
                return self._send(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": "0.1"})
            if fault == "guided":
                return self._send(422, b'{"error": "guided_* fields are not accepted here"}')
            if fault == "malformed":
                return self._send(200, b'{"choices": [{"message": ')
            if fault == "truncated":
                body = b'{"choices": [{"message": {"role": "assistant", "content": "x"}}]}'
                self._send(200, body[:20], length=len(body))
                self.close_connection = True
                return
            if fault == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            if fault == "empty":
                return self._send(200, json.dumps({"choices": []}).encode())
            if fault == "slow":
                time.sleep(args.slow_s)
            elif args.delay_s:
                time.sleep(args.delay_s)
            if "response_format" in req or "structured_outputs" in req:
                words = prompt.split()
                text = json.dumps({"answer": _h(prompt) % 1000, "echo": words[0][:20] if words else ""})
            else:
                text = "reply: " + prompt[:40]
            usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                     "total_tokens": len(prompt.split()) + len(text.split())}
            choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                      if chat else {"index": 0, "text": text, "finish_reason": "stop"})
            self._send(200, json.dumps({"id": "x", "object": "chat.completion" if chat else "text_completion",
                                        "model": args.model, "choices": [choice], "usage": usage}).encode())

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--model", default="fake")
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--faults", default="500,503,429,slow,malformed,truncated,drop,empty")
    ap.add_argument("--fail-first", type=int, default=2)
    ap.add_argument("--slow-s", type=float, default=3.0)
    ap.add_argument("--delay-s", type=float, default=0.0)
    ap.add_argument("--require-key", default="")
    ap.add_argument("--no-chat-template", action="store_true")
    ap.add_argument("--guided-seen", action="store_true", help="answer 422 to any guided_* field")
    args = ap.parse_args()
    state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state))
    server.daemon_threads = True
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
