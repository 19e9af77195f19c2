"""Record every HTTP request a process sends to the Prefect API, for counting writes.

`install(path, api_url)` patches httpx's `Client.send` and `AsyncClient.send`
(which every Prefect client, the CLI included, goes through) to append
``METHOD path`` to `path`. Subprocesses get it from ``_hook/sitecustomize.py``
when ``BENCH_REQUEST_LOG`` and ``BENCH_API_URL`` are set.
"""

from __future__ import annotations

import collections
import threading
from pathlib import Path
from typing import Any

import httpx

#: POSTs that only read (query endpoints); every other POST, PUT, PATCH, DELETE writes.
READ_ONLY_POST_SUFFIXES = ("/filter", "/count", "/paginate", "/history")
_lock = threading.Lock()
#: (log file, API URL) of the current installation; the patch is applied once.
_target: list[tuple[Path, str]] = []


def _record(request: httpx.Request) -> None:
    if not _target:
        return
    path, api_url = _target[0]
    url = str(request.url)
    if not url.startswith(api_url):
        return
    line = f"{request.method} {url[len(api_url) :].split('?')[0]}\n"
    with _lock, path.open("a") as log:
        log.write(line)


def install(path: Path, api_url: str) -> None:
    """Log every request to `api_url` sent by this process into `path`."""
    patched = bool(_target)
    _target[:] = [(path, api_url)]
    if patched:
        return
    sync_send = httpx.Client.send
    async_send = httpx.AsyncClient.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        _record(request)
        return sync_send(self, request, **kwargs)

    async def asend(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        _record(request)
        return await async_send(self, request, **kwargs)

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]


def is_write(line: str) -> bool:
    """Whether a logged ``METHOD path`` line changed something on the server."""
    method, _, path = line.partition(" ")
    if method in ("PUT", "PATCH", "DELETE"):
        return True
    return method == "POST" and not path.rstrip("/").endswith(READ_ONLY_POST_SUFFIXES)


def summarize(path: Path) -> tuple[int, int, dict[str, int]]:
    """(all requests, write requests, writes by method) in the log at `path`."""
    lines = path.read_text().splitlines() if path.exists() else []
    writes = [line for line in lines if is_write(line)]
    by_method = collections.Counter(line.split(" ", 1)[0] for line in writes)
    return len(lines), len(writes), dict(sorted(by_method.items()))
