"""Checking a caller: an HMAC-SHA256 signature of the raw body, or a bearer token."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from infra.gateway.endpoints import Auth


def signature(secret: str, body: bytes, encoding: str = "hex") -> str:
    """HMAC-SHA256 of `body` keyed with `secret`, hex (GitHub's format) or base64."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def auth_problem(auth: Auth, secret: str, headers: Mapping[str, str], body: bytes) -> str | None:
    """Why the request does not authenticate (None when it does). Never shows a value.

    Comparisons take the same time whatever the value (`hmac.compare_digest`).
    """
    value = headers.get(auth.header_name.lower())
    if value is None:
        return f"missing header {auth.header_name}"
    prefix = auth.value_prefix
    if prefix and not value.lower().startswith(prefix.lower()):
        return f"header {auth.header_name} does not start with {prefix.strip()!r}"
    given = value[len(prefix) :].strip()
    if auth.kind == "bearer":
        expected = secret
    else:
        expected = signature(secret, body, auth.encoding)
        if auth.encoding == "hex":
            given = given.lower()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        what = "token" if auth.kind == "bearer" else "signature"
        return f"wrong {what} in header {auth.header_name}"
    return None
