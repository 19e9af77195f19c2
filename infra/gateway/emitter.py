"""Sending events to the Prefect server's events API (`POST /events`), with its auth."""

from __future__ import annotations

import httpx
from prefect.events import Event


class EmitError(Exception):
    """The events API did not take the events.

    `sent` is False when the request never reached the server (nothing stored), True when
    it may have (a timeout after sending): then the events may or may not be stored.
    """

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class Emitter:
    """One HTTP client to the server, shared by every request."""

    def __init__(self, api_url: str, auth_string: str | None, timeout: float = 10.0) -> None:
        auth = None
        if auth_string:
            user, _, password = auth_string.partition(":")
            auth = httpx.BasicAuth(user, password)
        self.client = httpx.AsyncClient(base_url=api_url, auth=auth, timeout=timeout)

    async def emit(self, events: list[Event]) -> None:
        """Send the events in one request (the server takes all or none).

        Raises:
            EmitError: the server cannot be reached, timed out, or refused the request.
        """
        body = [event.model_dump(mode="json") for event in events]
        try:
            response = await self.client.post("/events", json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise EmitError(f"events API unreachable: {type(error).__name__}", False) from None
        except httpx.HTTPError as error:
            raise EmitError(f"events API did not answer: {type(error).__name__}", True) from None
        if response.status_code != 204:
            raise EmitError(f"events API answered {response.status_code}", False)

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()
