"""A Prefect API client built from a provider's ``connection`` input.

Every provider method gets its client from `prefect_api` (the provider object
is pickled and runs in Pulumi's provider process, so nothing is built before
the first call). It wraps Prefect's `SyncPrefectClient` and turns transport
failures into errors a user can act on: a wrong auth string (HTTP 401), a
server that cannot be reached, or an API error with the server's own detail.

One client per (API URL, auth string) is kept open for the life of the
process and shared by the engine's threads (httpx clients are thread-safe):
a new client per call would open a new connection and fetch a new CSRF token
before its first write, one extra request per resource.

`REQUEST_HOOKS` lets a caller in the same process observe every request (the
apply benchmark counts write requests with it).
"""

from __future__ import annotations

import atexit
import functools
import os
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TypedDict, cast

import certifi
import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.orchestration.routes import ServerRoutes

Method = Literal["GET", "POST", "PUT", "DELETE", "PATCH"]

#: Called with every request any provider sends (for measuring; empty by default).
REQUEST_HOOKS: list[Callable[[httpx.Request], None]] = []


class Connection(TypedDict):
    """Where the Prefect API is and how to authenticate (a Pulumi secret)."""

    api_url: str
    auth_string: str | None


class PrefectProviderError(RuntimeError):
    """Base class of every error a Prefect provider raises."""


class PrefectUnreachableError(PrefectProviderError):
    """The Prefect API could not be reached at all."""


class PrefectAuthError(PrefectProviderError):
    """The Prefect API refused the credentials (HTTP 401 or 403)."""


class PrefectApiError(PrefectProviderError):
    """The Prefect API answered a request with an error status."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class PrefectConflictError(PrefectProviderError):
    """An object with the declared name already exists and this stack did not create it."""


def connection_from(value: Any, what: str) -> Connection:
    """Validate a ``connection`` input (no I/O) and return it typed.

    Args:
        value: the ``connection`` input: ``{"api_url": ..., "auth_string": ...}``.
        what: the resource being handled, for the error message.
    """
    if not isinstance(value, Mapping):
        raise PrefectProviderError(
            f"{what}: input 'connection' must be a mapping with 'api_url' and 'auth_string', "
            f"got {type(value).__name__}"
        )
    api_url = value.get("api_url")
    auth_string = value.get("auth_string")
    if not isinstance(api_url, str) or not api_url.startswith(("http://", "https://")):
        raise PrefectProviderError(
            f"{what}: connection.api_url must be an http(s) URL of the Prefect API, got {api_url!r}"
        )
    if auth_string is not None and not isinstance(auth_string, str):
        raise PrefectProviderError(f"{what}: connection.auth_string must be a string or null")
    unknown = set(value) - {"api_url", "auth_string"}
    if unknown:
        raise PrefectProviderError(f"{what}: unknown connection fields {sorted(unknown)}")
    return Connection(api_url=api_url.rstrip("/"), auth_string=auth_string)


def connection_from_environment() -> Connection | None:
    """The connection from ``PREFECT_API_URL`` / ``PREFECT_API_AUTH_STRING``, if set."""
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        return None
    return Connection(api_url=api_url, auth_string=os.environ.get("PREFECT_API_AUTH_STRING"))


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verified TLS context per process (building one costs tens of milliseconds)."""
    return ssl.create_default_context(cafile=certifi.where())


def _run_hooks(request: httpx.Request) -> None:
    for hook in REQUEST_HOOKS:
        hook(request)


class PrefectApi:
    """JSON requests to one Prefect API with errors that name the resource."""

    def __init__(self, client: SyncPrefectClient, connection: Connection, what: str) -> None:
        self._client = client
        self.api_url = connection["api_url"]
        self.what = what

    def create(self, path: str, body: Any) -> str:
        """POST a new object and return its id; a name already taken is a `PrefectConflictError`."""
        try:
            created = self.call("POST", path, json=body)
        except PrefectApiError as exc:
            if exc.status_code == 409:
                raise PrefectConflictError(
                    f"{self.what} already exists on {self.api_url} and was not created by this "
                    "stack; delete it or import it into the stack first"
                ) from None
            raise
        return str(created["id"])

    def call(
        self,
        method: Method,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """Send one request and return its decoded JSON body (None for an empty body).

        Args:
            method: the HTTP method.
            path: the path below the API URL, e.g. ``/work_pools/my-pool``.
            json: the request body.
            params: query parameters.
            missing_ok: return None on HTTP 404 instead of raising.
        """
        try:
            response = self._client.request(
                method, cast(ServerRoutes, path), params=dict(params or {}), json=json
            )
        except httpx.HTTPStatusError as exc:
            response = exc.response
            if response.status_code == 404 and missing_ok:
                return None
            raise self._status_error(method, path, response) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise PrefectUnreachableError(
                f"{self.what}: cannot reach the Prefect API at {self.api_url} ({exc}); "
                "check connection.api_url and that the server is running"
            ) from None
        except httpx.TransportError as exc:
            raise PrefectUnreachableError(
                f"{self.what}: the Prefect API at {self.api_url} failed during "
                f"{method} {path}: {type(exc).__name__}: {exc}"
            ) from None
        if not response.content:
            return None
        return response.json()

    def _status_error(self, method: str, path: str, response: httpx.Response) -> Exception:
        if response.status_code in (401, 403):
            return PrefectAuthError(
                f"{self.what}: the Prefect API at {self.api_url} refused the credentials "
                f"(HTTP {response.status_code}); check connection.auth_string "
                "(the server's PREFECT_SERVER_API_AUTH_STRING)"
            )
        try:
            detail = redacted(response.json())
        except ValueError:
            detail = response.text[:500]
        return PrefectApiError(
            f"{self.what}: {method} {path} failed with HTTP {response.status_code}: {detail}",
            response.status_code,
        )


def redacted(detail: Any) -> Any:
    """An error body without what it echoes of the request.

    Prefect's 422 answer repeats the whole request as `request_body`, and each refused field's
    value as `input` (and sometimes in `ctx`): for a block document those are its secrets.
    What stays (`loc`, `msg`, `type`) names the field and the problem.
    """
    if not isinstance(detail, dict):
        return detail
    cleaned = {key: value for key, value in detail.items() if key != "request_body"}
    problems = cleaned.get("exception_detail")
    if isinstance(problems, list):
        cleaned["exception_detail"] = [
            {k: v for k, v in problem.items() if k not in ("input", "ctx")}
            if isinstance(problem, dict)
            else problem
            for problem in problems
        ]
    return cleaned


_clients: dict[tuple[str, str | None], SyncPrefectClient] = {}
_clients_lock = threading.Lock()


def _client(connection: Connection) -> SyncPrefectClient:
    """The open client for `connection`, created on first use."""
    key = (connection["api_url"], connection["auth_string"])
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            settings: dict[str, Any] = {
                "verify": _tls_context(),
                "event_hooks": {"request": [_run_hooks]},
            }
            client = SyncPrefectClient(
                connection["api_url"],
                auth_string=connection["auth_string"],
                httpx_settings=settings,
            )
            client.__enter__()
            _clients[key] = client
        return client


@atexit.register
def close_clients() -> None:
    """Close every client this process opened."""
    with _clients_lock:
        for client in _clients.values():
            client.__exit__(None, None, None)
        _clients.clear()


@contextmanager
def prefect_api(connection: Connection, what: str) -> Iterator[PrefectApi]:
    """A Prefect API for `connection` whose errors name `what` (the resource).

    Example:
        ``with prefect_api(conn, "work pool 'etl'") as api: api.call("GET", "/work_pools/etl")``
    """
    yield PrefectApi(_client(connection), connection, what)
