"""A moto server that counts the requests it serves, by API action (run by aws_bench.py in its own process).

    python bench/moto_counter.py PORT

The WSGI middleware names each request's action the way the server sees it, independent of any client's
own bookkeeping: query-protocol services (EC2, IAM, STS) by the `Action` form field, JSON ones (the
tagging API) by `X-Amz-Target`, S3's REST calls by method, path and sub-resource (`GET /?location` is
GetBucketLocation). Retried requests are counted again: that is the point. `GET /_bench/counts` answers the
counts as JSON, `POST /_bench/counts` answers them and starts again from zero.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

COUNTS_PATH = "/_bench/counts"
S3_SUBRESOURCES = {"location": "GetBucketLocation", "tagging": "GetBucketTagging", "versioning":
                   "GetBucketVersioning", "encryption": "GetBucketEncryption", "policy": "GetBucketPolicy",
                   "acl": "GetBucketAcl", "logging": "GetBucketLogging", "lifecycle": "GetBucketLifecycle",
                   "publicAccessBlock": "GetPublicAccessBlock", "website": "GetBucketWebsite",
                   "notification": "GetBucketNotification", "replication": "GetBucketReplication",
                   "ownershipControls": "GetBucketOwnershipControls", "cors": "GetBucketCors"}


def action_of(environ: dict[str, Any]) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "Action" in query:
        return query["Action"][0]
    method = environ.get("REQUEST_METHOD", "GET")
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size) if size else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return s3_action(method, environ.get("PATH_INFO", "/"), query)


def s3_action(method: str, path: str, query: dict[str, list[str]]) -> str:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "ListBuckets" if method == "GET" else f"S3 {method} /"
    for key, name in S3_SUBRESOURCES.items():
        if key in query:
            return name if method == "GET" else name.replace("Get", method.title(), 1)
    if len(parts) == 1:
        return {"GET": "ListObjects", "PUT": "CreateBucket", "HEAD": "HeadBucket",
                "DELETE": "DeleteBucket"}.get(method, f"S3 {method} bucket")
    return {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject"}.get(method, f"S3 {method} object")


class Counting:
    """WSGI middleware: count, then hand the request to moto unchanged."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == COUNTS_PATH:
            with self.lock:
                body = json.dumps(dict(self.counts)).encode()
                if environ.get("REQUEST_METHOD") == "POST":
                    self.counts.clear()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            action = action_of(environ)
            with self.lock:
                self.counts[action] += 1
        return self.app(environ, start_response)


def main() -> None:
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, Counting(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
