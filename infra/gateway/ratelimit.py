"""A token bucket per endpoint: `burst` requests at once, `requests_per_minute` sustained."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """Refills at `per_minute / 60` tokens a second up to `burst`; a request takes one."""

    per_minute: int
    burst: int
    tokens: float = field(init=False)
    updated: float = field(init=False, default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there is one."""
        now = time.monotonic()
        rate = self.per_minute / 60
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / rate
