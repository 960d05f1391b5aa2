"""Which finished captures to delete: oldest first, those older than the maximal age, then as
many as keep the total size within the bound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

AGE = "age"
SIZE = "size"


@dataclass(frozen=True)
class StoredCapture:
    capture_id: str
    finished_at: float
    size: int


def expired_captures(captures: Iterable[StoredCapture], now: float, max_age: float,
                     max_bytes: int) -> list[tuple[StoredCapture, str]]:
    """(capture, reason) pairs to delete, oldest first; the reason is AGE or SIZE."""
    ordered = sorted(captures, key=lambda capture: (capture.finished_at, capture.capture_id))
    remaining = sum(capture.size for capture in ordered)
    expired = []
    for capture in ordered:
        if now - capture.finished_at > max_age:
            expired.append((capture, AGE))
        elif remaining > max_bytes:
            expired.append((capture, SIZE))
        else:
            break  # everything newer is younger and fits
        remaining -= capture.size
    return expired
