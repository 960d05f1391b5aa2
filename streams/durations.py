"""Durations written in the configuration as ``90``, ``500ms``, ``5s``, ``10m``, ``6h``, ``7d`` or ``2w``."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds as a float; a bare number is seconds. Raises ValueError with what was expected."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 10m, 7d, found {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"expected a non-negative duration, found {value!r}")
        try:
            return _finite(str(value) if isinstance(value, float) else "an integer", float(value))
        except OverflowError:  # an integer too large for a float would escape pydantic
            raise ValueError("expected a finite duration, found an integer too large for one") from None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return _finite(repr(value), float(match.group(1)) * _UNITS[match.group(2) or "s"])
    raise ValueError(f"expected a duration such as 30s, 10m, 7d, found {value!r}")


def _finite(shown: str, seconds: float) -> float:
    # YAML's .nan and .inf, and digit strings too long for a float (which become inf), are not
    # usable durations: a NaN retention compares false with everything and silently disables
    # deduplication, an infinite batch timeout never fires.
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, found {shown[:32]}")
    return seconds
