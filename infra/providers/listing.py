"""Shared list reads: one `pulumi refresh` reads each kind with a few list requests, not one
GET per object.

Pulumi runs every dynamic resource of one `pulumi up` / `refresh` in one provider process, and
its reads arrive together. For kinds the Prefect API lists in pages (`POST .../filter`), the first
read of a kind fetches the whole list once; the reads that follow find their object in it.

What keeps an answer from going stale:

- a listing answers each object **once**: a second read of the same object, whoever asks,
  starts a new listing, so reading, changing something and reading again sees the change;
- a listing is dropped after `MAX_AGE_SECONDS`, and as soon as this process writes to that kind
  (`invalidate`, called by every create, update and delete);
- a listing lives in the provider process, which lives for one engine run: nothing is kept
  across runs (the test suite's engine stand-in calls `clear()` between runs for the same reason).

An object is reported gone only by a listing that started after the read did (otherwise the
read lists again), exactly as a 404 from its GET would say.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .client import PrefectApi

MAX_AGE_SECONDS = 30.0
"""How long a listing may answer reads (a refresh of thousands of objects takes seconds)."""

PAGE = 200
"""Objects per list request (the server's default maximum)."""


@dataclass
class _Listing:
    """One list read of one kind: its objects by id, and the ids already handed out."""

    started: float
    ready: threading.Event = field(default_factory=threading.Event)
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    error: BaseException | None = None


class Listings:
    """List reads shared by the providers of one process, per API URL and list path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listings: dict[tuple[str, str], _Listing] = {}

    def find(
        self, api: PrefectApi, path: str, id_: str, *, answer_once: bool = True
    ) -> dict[str, Any] | None:
        """The object `id_` from a listing of `path` (None: it does not exist).

        Args:
            api: the API to list from.
            path: the list endpoint, e.g. ``/work_pools/filter``.
            id_: the object's id.
            answer_once: count this as the object's read (the default); False for a look-up
                of what another object points at (a name), which many objects may share.
        """
        found, fresh = self._find(api, path, id_, answer_once, renew=False)
        if found is None and not fresh:
            # "Gone" is only said by a listing that started after this call did.
            found, _ = self._find(api, path, id_, answer_once, renew=True)
        return found

    def _find(
        self, api: PrefectApi, path: str, id_: str, answer_once: bool, renew: bool
    ) -> tuple[dict[str, Any] | None, bool]:
        """The object from a usable listing, or a new one (`renew`: always a new one); and
        whether this call started the listing it answered from."""
        key = (api.api_url, path)
        with self._lock:
            listing = self._listings.get(key)
            usable = (
                not renew
                and listing is not None
                and listing.error is None
                and not (answer_once and id_ in listing.answered)
                and time.monotonic() - listing.started < MAX_AGE_SECONDS
            )
            leader = not usable
            if leader:
                listing = self._listings[key] = _Listing(started=time.monotonic())
            assert listing is not None
            if answer_once:
                listing.answered.add(id_)
        if leader:
            try:
                listing.by_id = {str(item["id"]): item for item in _list_all(api, path)}
            except BaseException as error:
                listing.error = error
                raise
            finally:
                listing.ready.set()
        listing.ready.wait()
        if listing.error is not None:
            raise listing.error
        return listing.by_id.get(id_), leader

    def invalidate(self, api_url: str, path: str) -> None:
        """Forget the listing of `path` (this process just changed that kind)."""
        with self._lock:
            self._listings.pop((api_url, path), None)

    def clear(self) -> None:
        """Forget every listing (a new engine run)."""
        with self._lock:
            self._listings.clear()


def _list_all(api: PrefectApi, path: str) -> list[dict[str, Any]]:
    """Every object of a `POST .../filter` endpoint, page by page."""
    items: list[dict[str, Any]] = []
    while True:
        page = api.call("POST", path, json={"limit": PAGE, "offset": len(items)}) or []
        items.extend(page)
        if len(page) < PAGE:
            return items


LISTINGS = Listings()
"""The listings of this process (the provider process of one engine run)."""
