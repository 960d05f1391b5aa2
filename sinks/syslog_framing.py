"""Syslog messages around a payload (pure: no I/O): RFC 3164 or RFC 5424 headers, facility local6,
the severity from the priority, and RFC 6587 octet counting for stream transports.

Whatever the payload holds, no line break, NUL or other control character reaches the wire: a
receiver splitting on them would otherwise let event text forge extra syslog records. The CEF
escaping already writes line breaks in values as ``\\n``; ``sanitize`` is the last line of defence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from streams.config import SYSLOG_SEVERITIES, SyslogAction
from streams.priorities import SYSLOG_SEVERITY, Priority

from .cef import MONTHS

FACILITY_LOCAL6 = 22  # the seed: "Syslog messages are assigned to the local6 facility"
# C0 and C1 controls but tab, DEL, and the Unicode line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_HEADER_UNSAFE = re.compile(r"[^!-~]")  # header fields are printable US-ASCII without spaces
MAX_HEADER_FIELD = 255  # RFC 5424: HOSTNAME, the longest header field

Framing = Literal["rfc3164", "rfc5424"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sends: the header fields that name this process."""

    hostname: str
    app_name: str
    procid: str


def severity_of(priority: Priority, action: SyslogAction) -> int:
    """The seed's table (CRITICAL alert ... INFORMATION notice), or the action's fixed severity."""
    if action.priority_as_severity:
        return SYSLOG_SEVERITY[priority]
    return SYSLOG_SEVERITIES.index(action.severity)


def pri(severity: int, facility: int = FACILITY_LOCAL6) -> int:
    return facility * 8 + severity


def sanitize(text: str) -> str:
    """Control characters and line separators become spaces."""
    return _UNSAFE.sub(" ", text)


def header_field(value: str) -> str:
    """A header field (hostname, app name, proc ID): printable ASCII, no spaces; ``-`` when empty."""
    return _HEADER_UNSAFE.sub("_", value)[:MAX_HEADER_FIELD] or "-"


def rfc3164(priority_value: int, moment: datetime, origin: Origin, message: str, zone: tzinfo) -> str:
    """``<PRI>Mmm dd HH:MM:SS HOST APP[PID]: MSG``, as the real emitter writes (no year, no zone)."""
    local = moment.astimezone(zone)
    timestamp = f"{MONTHS[local.month - 1]} {local.day:2d} {local:%H:%M:%S}"
    return (f"<{priority_value}>{timestamp} {header_field(origin.hostname)} "
            f"{header_field(origin.app_name)}[{header_field(origin.procid)}]: {sanitize(message)}")


def rfc5424(priority_value: int, moment: datetime, origin: Origin, message: str, zone: tzinfo) -> str:
    """``<PRI>1 TIMESTAMP HOST APP PROCID - - MSG``: no MSGID, no structured data, and no BOM
    before the UTF-8 message (it is optional, and CEF consumers take the message as it is)."""
    timestamp = moment.astimezone(zone).isoformat(timespec="milliseconds")
    return (f"<{priority_value}>1 {timestamp} {header_field(origin.hostname)} {header_field(origin.app_name)} "
            f"{header_field(origin.procid)} - - {sanitize(message)}")


FORMATTERS = {"rfc3164": rfc3164, "rfc5424": rfc5424}


def octet_counted(frame: bytes) -> bytes:
    """RFC 6587 octet counting (``LEN SP MSG``): TCP and TLS receivers find the message end
    without a delimiter, so nothing in the message can end it early."""
    return b"%d %s" % (len(frame), frame)


def syslog_frame(framing: Framing, priority_value: int, moment: datetime, origin: Origin, message: str,
                 zone: tzinfo, stream: bool) -> bytes:
    """The bytes of one message: a datagram, or octet-counted for a stream (TCP, TLS)."""
    frame = FORMATTERS[framing](priority_value, moment, origin, message, zone).encode("utf-8")
    return octet_counted(frame) if stream else frame
