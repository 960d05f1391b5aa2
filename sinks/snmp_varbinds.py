"""The variable bindings of ADS-ACTIONS-MIB::adsEventNotification for one delivery: pure, no I/O.

deploy/mibs/ADS-ACTIONS-MIB.txt defines the objects; tests/deploy/test_mib.py checks every OID here
against the compiled MIB. Values longer than their object allows are shortened, never rejected
(deploy/mibs/README.md, "Long values"):

- text: cut at a UTF-8 character boundary and ended with ``...``, within the object's size;
- targets: as many whole addresses as fit, comma-separated; adsEventTargetCount gives the number
  of all of them.
"""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from typing import NamedTuple

from pysnmp.proto.rfc1902 import Integer32, IpAddress, OctetString, Unsigned32

from streams.events import AdsEvent
from streams.priorities import Priority

# The module's OID, under net-snmp's experimental playpen arc: the one place in the code that says
# it (deploy/mibs/README.md tells an operator with an enterprise number what to change).
ADS_ACTIONS_MIB_OID = (1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 1)
EVENT_NOTIFICATION_OID = ADS_ACTIONS_MIB_OID + (0, 1)
_EVENT_OBJECTS_OID = ADS_ACTIONS_MIB_OID + (1,)
# The objects are accessible-for-notify scalars: instance 0.
_SCALAR_INSTANCE = (0,)

# Object name -> sub-identifier under adsEventObjects, in the order of the notification's OBJECTS.
EVENT_OBJECTS = {
    "adsEventId": 1,
    "adsEventDetectionTime": 2,
    "adsEventFirstFlowTime": 3,
    "adsEventType": 4,
    "adsEventTypeDescription": 5,
    "adsEventSubtype": 6,
    "adsEventPerspective": 7,
    "adsEventPerspectiveId": 8,
    "adsEventPriority": 9,
    "adsEventDetail": 10,
    "adsEventPorts": 11,
    "adsEventProtocol": 12,
    "adsEventSource": 13,
    "adsEventCapturedSource": 14,
    "adsEventTargetCount": 15,
    "adsEventTargets": 16,
    "adsEventDataFeed": 17,
    "adsEventUserIdentity": 18,
    "adsEventMethodInstance": 19,
}

# Sizes of the MIB's text objects, in octets.
TEXT_MAX_OCTETS = 255
LONG_TEXT_MAX_OCTETS = 1024  # adsEventDetail, adsEventTargets
TYPE_MAX_OCTETS = 32
ADDRESS_MAX_OCTETS = 45
TRUNCATION_MARKER = b"..."
TARGET_SEPARATOR = ","
# DateAndTime for "the event does not say" (adsEventFirstFlowTime), as several IETF MIBs use it.
UNKNOWN_DATE_AND_TIME = bytes(8)

Value = OctetString | Unsigned32 | Integer32 | IpAddress


class Varbind(NamedTuple):
    name: str
    oid: tuple[int, ...]
    value: Value


def object_oid(name: str) -> tuple[int, ...]:
    """The OID of an event object's instance, as sent in a notification."""
    return _EVENT_OBJECTS_OID + (EVENT_OBJECTS[name],) + _SCALAR_INSTANCE


def truncate_utf8(text: str, max_octets: int) -> bytes:
    """``text`` in UTF-8, cut to at most ``max_octets`` at a character boundary, ending with
    ``...`` when it was cut. A character UTF-8 cannot encode (a lone surrogate) becomes ``?``."""
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= max_octets:
        return encoded
    # Decoding with errors="ignore" drops only the character the cut went through.
    kept = encoded[:max_octets - len(TRUNCATION_MARKER)].decode("utf-8", errors="ignore")
    return kept.encode("utf-8") + TRUNCATION_MARKER


def target_list(targets: tuple[str, ...], max_octets: int = LONG_TEXT_MAX_OCTETS) -> bytes:
    """As many whole target addresses as fit in ``max_octets``, comma-separated, in order."""
    listed: list[str] = []
    size = 0
    for target in targets:
        size += len(target) + (len(TARGET_SEPARATOR) if listed else 0)
        if size > max_octets:
            break
        listed.append(target)
    return TARGET_SEPARATOR.join(listed).encode("ascii", errors="replace")


def date_and_time(moment: datetime) -> bytes:
    """SNMPv2-TC DateAndTime in UTC, 11 octets: year, month, day, hour, minutes, seconds,
    deci-seconds, '+', 0 hours and 0 minutes from UTC."""
    utc = moment.astimezone(timezone.utc)
    return struct.pack(">HBBBBBBcBB", utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second,
                       utc.microsecond // 100_000, b"+", 0, 0)


def event_varbinds(event: AdsEvent, *, perspective: str, perspective_id: int, priority: Priority) -> list[Varbind]:
    """The notification's objects for ``event`` as the perspective ``perspective`` (ID
    ``perspective_id``) prioritised it, in the MIB's order."""
    first_flow = date_and_time(event.first_flow) if event.first_flow else UNKNOWN_DATE_AND_TIME
    values: dict[str, Value] = {
        "adsEventId": OctetString(str(event.id).encode("ascii")),
        "adsEventDetectionTime": OctetString(date_and_time(event.detected_at)),
        "adsEventFirstFlowTime": OctetString(first_flow),
        "adsEventType": OctetString(truncate_utf8(event.type, TYPE_MAX_OCTETS)),
        "adsEventTypeDescription": OctetString(truncate_utf8(event.type_desc, TEXT_MAX_OCTETS)),
        "adsEventSubtype": OctetString(truncate_utf8(event.subtype, TEXT_MAX_OCTETS)),
        "adsEventPerspective": OctetString(truncate_utf8(perspective, TEXT_MAX_OCTETS)),
        "adsEventPerspectiveId": Unsigned32(perspective_id),
        "adsEventPriority": Integer32(int(priority)),
        "adsEventDetail": OctetString(truncate_utf8(event.detail, LONG_TEXT_MAX_OCTETS)),
        "adsEventPorts": OctetString(truncate_utf8(event.ports, TEXT_MAX_OCTETS)),
        "adsEventProtocol": OctetString(truncate_utf8(event.protocol, TEXT_MAX_OCTETS)),
        "adsEventSource": OctetString(truncate_utf8(event.source, ADDRESS_MAX_OCTETS)),
        "adsEventCapturedSource": OctetString(truncate_utf8(event.captured_source, TEXT_MAX_OCTETS)),
        "adsEventTargetCount": Unsigned32(len(event.targets)),
        "adsEventTargets": OctetString(target_list(event.targets)),
        "adsEventDataFeed": OctetString(truncate_utf8(event.data_feed, TEXT_MAX_OCTETS)),
        "adsEventUserIdentity": OctetString(truncate_utf8(event.user_identity, TEXT_MAX_OCTETS)),
        "adsEventMethodInstance": OctetString(truncate_utf8(event.method_instance, TEXT_MAX_OCTETS)),
    }
    return [Varbind(name, object_oid(name), values[name]) for name in EVENT_OBJECTS]
