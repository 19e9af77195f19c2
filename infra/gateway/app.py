"""The gateway's ASGI app: `POST /hooks/<slug>` → check → render → emit; `GET /health`.

Every answer is JSON. What each status means, for the caller (docs/webhooks.md):

- 202: the events were accepted by the Prefect server (their ids are in the answer);
- 400: the endpoint's template failed or rendered an invalid event (the answer names the
  template's line); nothing was emitted, and the same request will fail again;
- 401: the signature or token is missing or wrong; 404: no endpoint has that slug;
- 413: the body is larger than the endpoint accepts; 429: over the endpoint's rate
  (`Retry-After` says when to retry);
- 503: the Prefect server's events API did not take the events (unreachable or an error:
  nothing accepted; no answer in time: maybe stored): retry the delivery later
  (`Retry-After`). With an event `id` in the template (e.g. GitHub's delivery id), a retried
  delivery stores the event once.
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from infra.gateway.auth import auth_problem
from infra.gateway.config import HEALTH_PATH, HOOKS_PREFIX, GatewaySettings
from infra.gateway.emitter import EmitError, Emitter
from infra.gateway.endpoints import Endpoint
from infra.gateway.logs import log
from infra.gateway.ratelimit import TokenBucket
from infra.gateway.templates import TemplateProblem, compile_template, render_events

RETRY_AFTER_SECONDS = 30
"""What a 503 asks the caller to wait before retrying."""
_HIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class _Gateway:
    """The state behind the routes: endpoints, compiled templates, rate buckets, emitter."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.templates = {
            slug: compile_template(endpoint.template)
            for slug, endpoint in settings.endpoints.items()
        }
        self.buckets = {
            slug: TokenBucket(endpoint.limits.requests_per_minute, endpoint.limits.burst)
            for slug, endpoint in settings.endpoints.items()
        }
        self.emitter: Emitter | None = None

    async def hook(self, request: Request) -> JSONResponse:
        """Handle one delivery to `/hooks/<slug>`."""
        started = time.perf_counter()
        slug = str(request.path_params["slug"])
        response = await self._handle(request, slug)
        fields = getattr(response, "log_fields", {})
        level = logging.WARNING if response.status_code >= 500 else logging.INFO
        log(
            level,
            "webhook request",
            slug=slug[:64],
            status=response.status_code,
            milliseconds=round((time.perf_counter() - started) * 1000, 1),
            **fields,
        )
        return response

    async def _handle(self, request: Request, slug: str) -> JSONResponse:
        endpoint = self.settings.endpoints.get(slug)
        if endpoint is None:
            return _reply(404, "unknown endpoint", f"no webhook endpoint is named {slug[:64]!r}")
        wait = self.buckets[slug].take()
        if wait:
            seconds = max(1, math.ceil(wait))
            return _reply(
                429,
                "rate limited",
                f"over {endpoint.limits.requests_per_minute} requests a minute; "
                f"retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
        body = await _read_body(request, endpoint.limits.max_body_bytes)
        if body is None:
            limit = endpoint.limits.max_body_bytes
            return _reply(413, "body too large", f"this endpoint accepts at most {limit} bytes")
        secret = self.settings.secrets[slug].get_secret_value()
        problem = auth_problem(endpoint.auth, secret, request.headers, body)
        if problem is not None:
            return _reply(401, "unauthorized", problem, bytes=len(body))
        try:
            events = await anyio.to_thread.run_sync(
                render_events,
                self.templates[slug],
                _template_context(request, endpoint, body),
                endpoint.limits.template_seconds,
            )
        except TemplateProblem as error:
            return _reply(
                400, "template failed", str(error), bytes=len(body), template_line=error.line
            )
        ids = [str(event.id) for event in events]
        if events:
            assert self.emitter is not None, "the app's lifespan did not start"
            try:
                await self.emitter.emit(events)
            except EmitError as error:
                return _reply(
                    503,
                    "events API unavailable",
                    f"{error}; "
                    + (
                        "the events may or may not be stored"
                        if error.sent
                        else "no event was accepted"
                    )
                    + ": retry this delivery later",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                    event_ids=ids,
                )
        names = sorted({event.event for event in events})
        return _reply(
            202, "accepted", f"{len(events)} event(s) emitted", event_ids=ids, events=names
        )

    async def health(self, request: Request) -> JSONResponse:
        """Liveness: the gateway serves; lists its endpoints' slugs."""
        return JSONResponse({"status": "ok", "endpoints": sorted(self.settings.endpoints)})


def _reply(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None, **fields: Any
) -> JSONResponse:
    """A JSON answer; `fields` go into it and into the request's log line."""
    key = "status" if status < 300 else "error"
    response = JSONResponse({key: error, "detail": detail, **fields}, status, headers=headers)
    response.log_fields = {"outcome": error, "detail": detail, **fields}  # type: ignore[attr-defined]
    return response


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is longer than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _template_context(request: Request, endpoint: Endpoint, body: bytes) -> dict[str, Any]:
    """The template's variables. The auth header, cookies and credentials are left out."""
    hidden = _HIDDEN_HEADERS | {endpoint.auth.header_name.lower()}
    headers = {
        key.lower(): value for key, value in request.headers.items() if key.lower() not in hidden
    }
    text = body.decode("utf-8", errors="replace")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    parsed: Any = text
    if content_type == "application/x-www-form-urlencoded":
        form = urllib.parse.parse_qs(text, keep_blank_values=True)
        parsed = {key: values[-1] if len(values) == 1 else values for key, values in form.items()}
    elif text.lstrip()[:1] in ("{", "[") or content_type.endswith("json"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
    return {
        "body": parsed,
        "raw_body": text,
        "headers": headers,
        "query": dict(request.query_params),
        "method": request.method,
        "slug": endpoint.slug,
    }


def create_app(settings: GatewaySettings) -> Starlette:
    """The gateway for these endpoints (templates compiled now: a bad one fails here)."""
    gateway = _Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway.emitter = Emitter(
            settings.api_url,
            settings.auth_string.get_secret_value() if settings.auth_string else None,
        )
        log(logging.INFO, "gateway started", endpoints=sorted(settings.endpoints))
        try:
            yield
        finally:
            await gateway.emitter.close()

    routes = [
        Route(HOOKS_PREFIX + "{slug}", gateway.hook, methods=["POST"]),
        Route(HEALTH_PATH, gateway.health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
