"""A real OpenAI-compatible HTTP server for the tests: ``POST /v1/chat/completions`` on
127.0.0.1, answering from a script, keeping every request that reached it.

Each request takes the next step of the script (``script(...)``), or ``default`` when the
script is spent: a good answer, prose, a label outside the set, a confidence outside 0-1,
a slow answer, an HTTP 429 or 500. The SDK's retries take further steps, as a real endpoint
would be asked again. ``bodies`` holds every request body exactly as it arrived (bytes),
``headers`` their headers, for the privacy and credential checks.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    status: int = 200
    content: str | None = None  # the assistant message's text
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    usage: bool = True  # report token usage
    model: str = "scripted-1"


def good(label: str = "surprise", confidence: float = 0.8, rationale: str | None = None) -> Step:
    why = rationale or f"AU01, AU02 and AU05 with AU26 read as {label}"
    return Step(content=json.dumps({"label": label, "confidence": confidence, "rationale": why}))


def prose(text: str = "This looks like surprise to me, mostly because of the brows.") -> Step:
    return Step(content=text)


def status(code: int, retry_after: str | None = None) -> Step:
    return Step(status=code, headers={"retry-after": retry_after} if retry_after else {})


def slow(seconds: float, then: Step | None = None) -> Step:
    step = then or good()
    return Step(step.status, step.content, seconds, step.headers, step.usage, step.model)


class ScriptedLlm:
    def __init__(self, default: Step | None = None) -> None:
        self.default = default or good()
        self._script: deque[Step] = deque()
        self._lock = threading.Lock()
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                step = server._take(self.path, raw, dict(self.headers))
                time.sleep(step.delay_s)
                body = server.reply(step, raw)
                try:
                    self.send_response(step.status)
                    for k, v in {"content-type": "application/json", **step.headers}.items():
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._script.extend(steps)

    def _take(self, path: str, raw: bytes, headers: dict[str, str]) -> Step:
        with self._lock:
            self.bodies.append(raw)
            self.headers.append({k.lower(): v for k, v in headers.items()})
            self.paths.append(path)
            return self._script.popleft() if self._script else self.default

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(b) for b in self.bodies]

    def count(self) -> int:
        with self._lock:
            return len(self.bodies)

    @staticmethod
    def reply(step: Step, raw: bytes) -> bytes:
        if step.status != 200:
            error = {"message": f"scripted {step.status}", "type": "server_error", "code": None}
            return json.dumps({"error": error}).encode()
        prompt, completion = len(raw) // 4, len(step.content or "") // 4
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        message = {"role": "assistant", "content": step.content, "refusal": None}
        return json.dumps(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": step.model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                **({"usage": usage} if step.usage else {}),
            }
        ).encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
