"""A recording reverse proxy in front of the moto server: every AWS request a command makes, as an
operation name, seen from outside our code (the read-only proof).

Query-protocol services (EC2, RDS, IAM, STS) name their operation in the `Action` form field, JSON ones in
`X-Amz-Target`, and S3 (REST) by its HTTP method: GET/HEAD read, PUT/POST/DELETE write.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

READ_PREFIXES = ("Describe", "List", "Get", "Head")


def operation(method: str, path: str, headers: dict[str, str], body: bytes) -> str:
    target = headers.get("X-Amz-Target") or headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    action = (form.get("Action") or query.get("Action") or [None])[0]
    return action or f"s3:{method}"


def is_read(op: str) -> bool:
    return op.startswith(READ_PREFIXES) or op in ("AssumeRole", "s3:GET", "s3:HEAD")


class Proxy:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.operations: list[str] = []
        self.requests: list[tuple[str, str]] = []  # (operation, path)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self._body()
                op = operation(self.command, self.path, dict(self.headers), body)
                proxy.operations.append(op)
                proxy.requests.append((op, self.path))
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "transfer-encoding")
                }
                # urllib would label a body without a type as a form, which the server then consumes as one
                headers.setdefault("Content-Type", self.headers.get("Content-Type") or "binary/octet-stream")
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body or None, method=self.command, headers=headers
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, headers, data = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    status, headers, data = error.code, error.headers, error.read()
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _body(self) -> bytes:
                if "chunked" not in (self.headers.get("Transfer-Encoding") or ""):
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def take(self) -> list[str]:
        taken, self.operations, self.requests = self.operations, [], []
        return taken


def writes(operations: Iterator[str] | list[str]) -> list[str]:
    return [op for op in operations if not is_read(op)]
