"""The five ADS priorities and how they translate to syslog and CEF severities."""

from __future__ import annotations

import enum


class Priority(enum.IntEnum):
    """Ordered so that ``a >= b`` means "a is at least as urgent as b"."""

    INFORMATION = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, word: str) -> "Priority":
        """Accepts any case and the vendor UI's spelling INFORMATIONAL; raises ValueError otherwise."""
        normalized = word.strip().upper()
        if normalized == "INFORMATIONAL":
            return cls.INFORMATION
        try:
            return cls[normalized]
        except KeyError:
            raise ValueError(
                f"expected one of {', '.join(PRIORITY_WORDS)} (or INFORMATIONAL), found {word!r}"
            ) from None


PRIORITY_WORDS = tuple(p.name for p in sorted(Priority, reverse=True))

# From the seed's table: priority -> (syslog severity number, CEF severity).
SYSLOG_SEVERITY = {
    Priority.CRITICAL: 1,  # Alert
    Priority.HIGH: 2,  # Critical
    Priority.MEDIUM: 3,  # Error
    Priority.LOW: 4,  # Warning
    Priority.INFORMATION: 5,  # Notice
}
CEF_SEVERITY = {
    Priority.CRITICAL: 10,
    Priority.HIGH: 8,
    Priority.MEDIUM: 6,
    Priority.LOW: 4,
    Priority.INFORMATION: 2,
}
