"""Durations written in the configuration as ``90``, ``500ms``, ``5s``, ``10m``, ``6h``, ``7d`` or ``2w``."""

from __future__ import annotations

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
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"expected a duration such as 30s, 10m, 7d, found {value!r}")
