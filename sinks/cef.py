"""CEF payloads of ADS events, as Flowmon ADS 13.0 emits them to syslog (pure: no I/O).

The extension keys, their order and the splitting of targets over messages reproduce the real
samples (tests/syslog_samples/ADS_13.0, checked line by line in tests/unit/test_cef.py). Unlike
the real emitter, values are escaped as the CEF specification asks, so that ``|``, ``=``, ``\\``
and line breaks in a detail cannot shift fields or lines.

Choices where the samples are silent:
- ``cn1=<event ID> cn1Label=EventID`` ("Use event ID") goes last, after ``cn3Label``: every other
  key keeps its real position, and a line without it is exactly the real one.
- A message carries at most ``MAX_TARGETS_PER_MESSAGE`` targets, as the real lists (which never
  show more than 10); the targets beyond are not sent.
- Targets of both families in one message: the IPv4 key(s), then the IPv6 key(s); each family
  uses its single-address key (``dst``, ``c6a3``) for one address and its list key (``cs4``,
  ``cs6``) for several.
- An event without targets gives one message without target keys.
- Empty values are left out with their label (method instance, data feed ID, MAC).
- ``start`` is written in the zone the caller passes (the sink: UTC); the real format has no zone.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Sequence

from streams.config import SyslogAction, SyslogSettings
from streams.events import AdsEvent
from streams.priorities import CEF_SEVERITY, Priority

CEF_VERSION = 0
MAX_TARGETS_PER_MESSAGE = 10
# English month abbreviations whatever the process locale (strftime's %b follows the locale).
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Field = tuple[str, str]


def escape_header(value: str) -> str:
    """A CEF header field: backslash and pipe escaped. The specification allows line breaks only
    in extension values: here each CR or LF becomes a space."""
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def escape_extension(value: str) -> str:
    """A CEF extension value: backslash and equals sign escaped, line breaks written as \\n, \\r."""
    # Chained str.replace: several times faster than str.translate or a regex on these short values.
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def cef_time(moment: datetime, zone: tzinfo) -> str:
    """``Nov 03 2025 15:11:01``: the real emitter's ``start`` format."""
    local = moment.astimezone(zone)
    return f"{MONTHS[local.month - 1]} {local:%d %Y %H:%M:%S}"


def split_targets(targets: Sequence[str], divide: bool, max_messages: int) -> list[tuple[str, ...]]:
    """The targets of each message of one event.

    Divided by targets with at most ``max_messages``: one message per target when there are no
    more targets than that; otherwise ``max_messages`` single-target messages, then one message
    with the remaining targets (the real sample with max 5 and 10 targets has 6 lines)."""
    if not targets:
        return [()]
    if not divide:
        return [tuple(targets[:MAX_TARGETS_PER_MESSAGE])]
    singles = [(target,) for target in targets[:max_messages]]
    remaining = tuple(targets[max_messages:max_messages + MAX_TARGETS_PER_MESSAGE])
    return singles + [remaining] if remaining else singles


def _is_ipv6(address: str) -> bool:
    # Event addresses are validated IPv4 dotted quads or IPv6 texts; only the latter hold a colon.
    return ":" in address


def target_fields(targets: Sequence[str]) -> list[Field]:
    ipv4 = [target for target in targets if not _is_ipv6(target)]
    ipv6 = [target for target in targets if _is_ipv6(target)]
    fields: list[Field] = []
    if len(ipv4) == 1:
        fields.append(("dst", ipv4[0]))
    elif ipv4:
        fields += [("cs4", ", ".join(ipv4)), ("cs4Label", "dstIPv4list")]
    if len(ipv6) == 1:
        fields += [("c6a3", ipv6[0]), ("c6a3Label", "dstIPv6")]
    elif ipv6:
        fields += [("cs6", ", ".join(ipv6)), ("cs6Label", "dstIPv6list")]
    return fields


def _source_fields(event: AdsEvent, action: SyslogAction, zone: tzinfo) -> list[Field]:
    if _is_ipv6(event.source):
        fields = [("c6a2", event.source), ("c6a2Label", "srcIPv6")]
    else:
        fields = [("src", event.source)]
    if event.mac:
        # CEF's MAC format: six colon-separated hex pairs (input also accepts dashes and upper case).
        fields.append(("smac", event.mac.replace("-", ":").lower()))
    fields.append(("start", cef_time(event.detected_at, zone)))
    detail = (event.detail_machine or event.detail) if action.machine_readable_detail else event.detail
    fields.append(("msg", detail))
    return fields


def _trailing_fields(event: AdsEvent, perspective_id: int, action: SyslogAction) -> list[Field]:
    fields: list[Field] = []
    if event.method_instance:
        fields += [("cs2", event.method_instance), ("cs2Label", "MethodInstanceName")]
    if event.data_feed_id is not None:
        fields += [("cn2", str(event.data_feed_id)), ("cn2Label", "DataFeedID")]
    fields += [("cn3", str(perspective_id)), ("cn3Label", "PerspectiveID")]
    if action.use_event_id:
        fields += [("cn1", str(event.id)), ("cn1Label", "EventID")]
    return fields


def cef_header(event: AdsEvent, priority: Priority, settings: SyslogSettings) -> str:
    fields = (settings.cef_vendor, settings.cef_product, settings.cef_version, event.type,
              event.type_desc or event.type, str(CEF_SEVERITY[priority]))
    return f"CEF:{CEF_VERSION}|" + "|".join(escape_header(field) for field in fields)


def cef_messages(event: AdsEvent, priority: Priority, perspective_id: int, action: SyslogAction,
                 settings: SyslogSettings, zone: tzinfo) -> list[str]:
    """The CEF payloads of one event for one syslog action, in sending order."""
    header = cef_header(event, priority, settings)
    leading = _source_fields(event, action, zone)
    trailing = _trailing_fields(event, perspective_id, action)
    messages = []
    for targets in split_targets(event.targets, action.divide_by_targets, action.max_messages_per_event):
        fields = leading + target_fields(targets) + trailing
        messages.append(header + "|" + " ".join(f"{key}={escape_extension(value)}" for key, value in fields))
    return messages
