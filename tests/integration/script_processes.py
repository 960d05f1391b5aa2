"""Checks on the processes a script left behind, for the script tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def process_gone(pid: int) -> bool:
    """Exited: a zombie that whoever inherited it has not reaped yet counts as gone (PID 1 of a
    container may never reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_until(condition: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"gave up waiting: {what}"
        time.sleep(0.05)
