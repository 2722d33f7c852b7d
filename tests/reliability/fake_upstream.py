"""A misbehaving OpenAI-compatible model service on a loopback port, for the model-failure tests.

The first path segment picks the behaviour (``http://127.0.0.1:PORT/<behaviour>/v1``):
``hang`` never answers; ``error`` answers HTTP 500; ``break`` streams two pieces, then drops the
connection mid-body; ``stall`` streams two pieces, then goes silent; ``ok`` streams a whole answer.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PIECES = ("Partial ", "answer ")


def _chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    body = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


class FakeUpstream:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.stop = threading.Event()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                behaviour = self.path.strip("/").split("/")[0]
                upstream.hits[behaviour] += 1
                if behaviour == "hang":
                    upstream.stop.wait(60)
                    return
                if behaviour == "error":
                    body = json.dumps({"error": {"message": "boom", "type": "server_error"}}).encode()
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                if behaviour == "ok":
                    body = b"".join(_chunk(p) for p in PIECES) + _chunk(finish="stop") + b"data: [DONE]\n\n"
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_header("Content-Length", "100000")  # promises more than it will send
                self.end_headers()
                for piece in PIECES:
                    self.wfile.write(_chunk(piece))
                self.wfile.flush()
                if behaviour == "stall":
                    upstream.stop.wait(60)
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{behaviour}/v1"


@contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    thread = threading.Thread(target=upstream.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        upstream.stop.set()
        upstream.server.shutdown()
        upstream.server.server_close()
