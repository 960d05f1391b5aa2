"""ADS and IDS events: parsing and validating what arrives on the input topics.

Input is untrusted. Every function here either returns a complete, validated event or raises
``InvalidEvent`` with a reason code (a metric label and a dead-letter header) and a message that
names the field, what was expected and what was found. Nothing else may escape: the property
tests in tests/unit/test_events_fuzz.py feed random bytes and random JSON to prove it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import orjson

from .event_types import EVENT_TYPE_NAMES, IDS_EVENT_TYPE
from .priorities import Priority

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidEvent(ValueError):
    """Why an input message cannot be turned into an event."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


# Reason codes: bounded, so they can be metric labels.
OVERSIZED = "oversized"
UNDECODABLE = "undecodable"
INVALID_JSON = "invalid_json"
INVALID_AVRO = "invalid_avro"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
INVALID_VALUE = "invalid_value"
UNKNOWN_PRIORITY = "unknown_priority"
CONTROL_CHARACTERS = "control_characters"
FIELD_TOO_LONG = "field_too_long"
TOO_MANY_TARGETS = "too_many_targets"
REASONS = (
    OVERSIZED, UNDECODABLE, INVALID_JSON, INVALID_AVRO, NOT_AN_OBJECT, MISSING_FIELD, WRONG_TYPE,
    INVALID_VALUE, UNKNOWN_PRIORITY, CONTROL_CHARACTERS, FIELD_TOO_LONG, TOO_MANY_TARGETS,
)


@dataclass(frozen=True)
class InputLimits:
    """Bounds on untrusted input (configurable under ``input:``)."""

    max_message_bytes: int = 256 * 1024
    max_field_chars: int = 16 * 1024
    max_targets: int = 4096
    max_flows: int = 1000

    @classmethod
    def from_settings(cls, section: Any) -> "InputLimits":
        """From the ``input:`` section of the configuration."""
        return cls(section.max_message_bytes, section.max_field_chars, section.max_targets, section.max_flows)


# Identifiers may hold no control character at all; free text (details, descriptions) may hold
# tab, newline and carriage return, which the sinks neutralise for their own formats.
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_EVENT_TYPE = re.compile(r"^[A-Z0-9_]{1,32}$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$")


@dataclass(frozen=True, slots=True)
class AdsEvent:
    """One ADS event trigger (or update), as the seed's JSON example describes it."""

    id: int
    detected_at: datetime
    type: str
    source: str
    type_desc: str = ""
    first_flow: datetime | None = None
    subtype: str = ""
    mitre_attack: tuple[Mapping[str, Any], ...] = ()
    perspective: str = ""
    input_priority: Priority | None = None
    detail: str = ""
    detail_machine: str = ""  # the machine-readable form of the detail, when the producer sends it
    ports: str = ""
    protocol: str = ""
    captured_source: str = ""
    targets: tuple[str, ...] = ()
    data_feed: str = ""
    data_feed_id: int | None = None
    method_instance: str = ""
    mac: str = ""
    user_identity: str = ""
    flows: tuple[Mapping[str, str], ...] = ()
    is_update: bool = False
    # Parsed once here so routing does not parse addresses per perspective.
    source_ip: IPAddress = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    target_ips: tuple[IPAddress, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IdsEvent:
    """One IDS event, with the seed's IDS attributes."""

    id: int
    first_seen: datetime
    last_seen: datetime
    src_ip: str
    dst_ip: str
    src_port: int | None = None
    dst_port: int | None = None
    protocol: str = ""
    signature_id: int | None = None
    signature_name: str = ""
    log_source_ip: str = ""
    log_source_interface: str = ""
    category: str = ""
    severity: str = ""
    is_update: bool = False
    source_ip: IPAddress = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    target_ips: tuple[IPAddress, ...] = field(default=(), compare=False, repr=False)

    # IDS events take part in perspectives as type IDSP with their source and destination.
    type = IDS_EVENT_TYPE
    subtype = ""
    method_instance = ""
    data_feed = ""


def decode_json_object(data: bytes, limits: InputLimits) -> dict[str, Any]:
    """Bytes -> JSON object, with size, encoding and shape checks."""
    if len(data) > limits.max_message_bytes:
        raise InvalidEvent(OVERSIZED, f"message of {len(data)} bytes exceeds the limit of "
                                      f"{limits.max_message_bytes} bytes (input.max_message_bytes)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(UNDECODABLE, f"expected UTF-8 text, found invalid byte at {exc.start}") from None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(INVALID_JSON, f"expected a JSON object, found invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(NOT_AN_OBJECT, f"expected a JSON object, found {type(obj).__name__}")
    return obj


class _Reader:
    """Typed field access on one untrusted mapping; errors name the field."""

    __slots__ = ("obj", "limits")

    def __init__(self, obj: Mapping[str, Any], limits: InputLimits):
        self.obj = obj
        self.limits = limits

    def _present(self, names: tuple[str, ...]) -> tuple[str, Any] | None:
        for name in names:
            value = self.obj.get(name)
            if value is not None:
                return name, value
        return None

    def _lookup(self, names: tuple[str, ...], required: bool, expected: str) -> tuple[str, Any] | None:
        """The first of ``names`` that is present, or None; a missing required field raises."""
        found = self._present(names)
        if found is None and required:
            raise InvalidEvent(MISSING_FIELD, f"field {names[0]!r}: expected {expected}, found nothing")
        return found

    def integer(self, *names: str, required: bool = False) -> int | None:
        found = self._lookup(names, required, "an integer")
        if found is None:
            return None
        name, value = found
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidEvent(WRONG_TYPE, f"field {name!r}: expected an integer, found {_describe(value)}")
        if not 0 <= value < 2**63:
            raise InvalidEvent(INVALID_VALUE, f"field {name!r}: expected 0 to 2^63-1, found {value}")
        return value

    def text(self, *names: str, required: bool = False, free_text: bool = False) -> str:
        found = self._lookup(names, required, "a string")
        if found is None:
            return ""
        name, value = found
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise InvalidEvent(WRONG_TYPE, f"field {name!r}: expected a string, found {_describe(value)}")
        return self.check_text(name, value, free_text)

    def check_text(self, name: str, value: str, free_text: bool) -> str:
        if len(value) > self.limits.max_field_chars:
            raise InvalidEvent(FIELD_TOO_LONG, f"field {name!r}: expected at most "
                                               f"{self.limits.max_field_chars} characters, found {len(value)}")
        pattern = _TEXT_CONTROL if free_text else _ANY_CONTROL
        match = pattern.search(value)
        if match:
            raise InvalidEvent(CONTROL_CHARACTERS, f"field {name!r}: expected no control characters, "
                                                   f"found {match.group()!r} at position {match.start()}")
        return value

    def timestamp(self, *names: str, required: bool = False) -> datetime | None:
        found = self._lookup(names, required, "a time")
        if found is None:
            return None
        name, value = found
        if value == "":
            if required:
                raise InvalidEvent(MISSING_FIELD, f"field {name!r}: expected a time, found an empty string")
            return None
        return parse_time(name, value)

    def ip(self, *names: str, required: bool = True) -> tuple[str, IPAddress | None]:
        text = self.text(*names, required=required).strip()
        if not text:
            return "", None
        try:
            return _address(text)
        except ValueError:
            raise InvalidEvent(INVALID_VALUE, f"field {names[0]!r}: expected an IPv4 or IPv6 address, "
                                              f"found {text[:64]!r}") from None


def _address(text: str) -> tuple[str, IPAddress]:
    """(normalised text, address); raises ValueError for anything but a plain address.

    The C inet_pton parses (its IPv4 form is canonical dotted-quad only, so that text is kept):
    ipaddress's own text parser was the larger part of an event's validation. Unlike ipaddress,
    inet_pton refuses IPv6 zone IDs (``fe80::1%eth0``), whose text is arbitrary: an event address
    is a plain address."""
    try:
        return text, ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError, UnicodeError):
        pass
    try:
        # inet_pton refuses zone IDs; the text of an IPv6 address is not canonical, so format it.
        address = ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, text))
    except (OSError, ValueError, UnicodeError):
        raise ValueError(f"{text[:64]!r} is not a plain IPv4 or IPv6 address") from None
    return str(address), address


def _describe(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a {'JSON object' if isinstance(value, dict) else 'list'}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return f"{type(value).__name__} {str(value)[:64]!r}"


def parse_time(name: str, value: Any) -> datetime:
    """``2025-05-14 15:10:28`` (UTC, as ADS writes it), ISO 8601 with an offset, or epoch seconds."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise InvalidEvent(INVALID_VALUE, f"field {name!r}: expected epoch seconds, found {value!r}") from None
    if not isinstance(value, str):
        raise InvalidEvent(WRONG_TYPE, f"field {name!r}: expected a time string, found {_describe(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        # A time with an offset near year 1 or 9999 (0001-01-01T00:00+01:00) parses but has no UTC
        # form: it encoded into routed messages that no reader could decode (OverflowError).
        parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise InvalidEvent(INVALID_VALUE, f"field {name!r}: expected a time such as 2025-05-14 15:10:28, "
                                          f"found {value[:64]!r}") from None
    return parsed


def _priority(reader: _Reader) -> Priority | None:
    """``priority`` or ``severity``; an empty one does not hide the other (ADS writes ``""``)."""
    for name in ("priority", "severity"):
        value = reader.obj.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidEvent(WRONG_TYPE, f"field {name!r}: expected a priority word, found {_describe(value)}")
        if not value.strip():
            continue
        try:
            return Priority.parse(value)
        except ValueError as exc:
            raise InvalidEvent(UNKNOWN_PRIORITY, f"field {name!r}: {exc}"[:300]) from None
    return None


def _targets(reader: _Reader) -> tuple[tuple[str, ...], tuple[IPAddress, ...]]:
    value = reader.obj.get("targets")
    if value is None or value == "":
        return (), ()
    if isinstance(value, str):
        items: list[Any] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidEvent(WRONG_TYPE, "field 'targets': expected a list or a comma-separated string, "
                                       f"found {_describe(value)}")
    if len(items) > reader.limits.max_targets:
        raise InvalidEvent(TOO_MANY_TARGETS, f"field 'targets': expected at most {reader.limits.max_targets} "
                                             f"targets (input.max_targets), found {len(items)}")
    texts, addresses = [], []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidEvent(WRONG_TYPE, f"field 'targets[{index}]': expected an IP address string, "
                                           f"found {_describe(item)}")
        try:
            text, address = _address(item.strip())
        except ValueError:
            raise InvalidEvent(INVALID_VALUE, f"field 'targets[{index}]': expected an IPv4 or IPv6 address, "
                                              f"found {item[:64]!r}") from None
        texts.append(text)
        addresses.append(address)
    return tuple(texts), tuple(addresses)


def _ports(reader: _Reader) -> str:
    """ADS writes ports as text ("22" or "80, 443"); numbers and lists of numbers are accepted too."""
    name = "port" if "port" in reader.obj else "ports"
    value = reader.obj.get(name)
    if value is None or value == "":
        return ""
    # Numbers are checked as ports (a negative or 2^64 "port" passed), and the joined list is held
    # to max_field_chars like any text field.
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list) and all(isinstance(p, int) and not isinstance(p, bool) for p in value):
        for port in value:
            if not 0 <= port <= 65535:
                raise InvalidEvent(INVALID_VALUE, f"field {name!r}: expected ports 0-65535, found {port}")
        return reader.check_text(name, ", ".join(str(p) for p in value), free_text=False)
    if isinstance(value, str):
        return reader.check_text(name, value.strip(), free_text=False)
    raise InvalidEvent(WRONG_TYPE, f"field {name!r}: expected port numbers, found {_describe(value)}")


def _mitre(reader: _Reader) -> tuple[Mapping[str, Any], ...]:
    value = reader.obj.get("mitreAttack")
    if value is None or value == "":
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidEvent(WRONG_TYPE, "field 'mitreAttack': expected a list of objects, found "
                                       f"{_describe(value)}")
    tactics = []
    for index, item in enumerate(value):
        # JSON input nests the tactic as the seed shows ({"tactic": {...}, "version": 15}); Avro
        # input is flat (MitreTactic: code, name, techniques, version), and reading it through
        # "tactic" silently dropped the code, name and techniques of every Avro event.
        tactic = (item.get("tactic") or {}) if "tactic" in item else item
        if not isinstance(tactic, dict):
            raise InvalidEvent(WRONG_TYPE, f"field 'mitreAttack[{index}].tactic': expected an object")
        sub = _Reader(tactic, reader.limits)
        techniques = []
        listed = tactic.get("techniques") or []
        if not isinstance(listed, list):  # a number here raised TypeError (not iterable)
            raise InvalidEvent(WRONG_TYPE, f"field 'mitreAttack[{index}].tactic.techniques': "
                                           "expected a list of objects")
        for technique in listed:
            if not isinstance(technique, dict):
                raise InvalidEvent(WRONG_TYPE, f"field 'mitreAttack[{index}].tactic.techniques': "
                                               "expected a list of objects")
            tech = _Reader(technique, reader.limits)
            techniques.append({"code": tech.text("code"), "name": tech.text("name", free_text=True)})
        version = item.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidEvent(WRONG_TYPE, f"field 'mitreAttack[{index}].version': expected an integer")
        # The Avro field is an int: a larger version made encoding the routed message raise.
        if version is not None and not 0 <= version < 2**31:
            raise InvalidEvent(INVALID_VALUE, f"field 'mitreAttack[{index}].version': expected 0 to "
                                              f"2^31-1, found {version}")
        tactics.append({"code": sub.text("code"), "name": sub.text("name", free_text=True),
                        "techniques": techniques, "version": version})
    return tuple(tactics)


def _flows(reader: _Reader) -> tuple[Mapping[str, str], ...]:
    value = reader.obj.get("flows")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidEvent(WRONG_TYPE, f"field 'flows': expected a list of objects, found {_describe(value)}")
    if len(value) > reader.limits.max_flows:
        raise InvalidEvent(FIELD_TOO_LONG, f"field 'flows': expected at most {reader.limits.max_flows} "
                                           f"flow samples (input.max_flows), found {len(value)}")
    flows = []
    for index, flow in enumerate(value):
        sample = {}
        for key, item in flow.items():
            if isinstance(item, (dict, list)):
                raise InvalidEvent(WRONG_TYPE, f"field 'flows[{index}].{key}': expected a scalar value")
            sample[reader.check_text(f"flows[{index}]", str(key), free_text=False)] = (
                "" if item is None else reader.check_text(f"flows[{index}].{key}", str(item), free_text=False))
        flows.append(sample)
    return tuple(flows)


def _is_update(obj: Mapping[str, Any]) -> bool:
    value = obj.get("update")
    if value is None:  # absent or null, like every other optional field
        return False
    if not isinstance(value, bool):
        raise InvalidEvent(WRONG_TYPE, f"field 'update': expected true or false, found {_describe(value)}")
    return value


def ads_event_from_mapping(obj: Mapping[str, Any], limits: InputLimits) -> AdsEvent:
    """Validate one decoded ADS event (JSON object or Avro record) into an AdsEvent."""
    reader = _Reader(obj, limits)
    event_id = reader.integer("id", required=True)
    event_type = reader.text("type", required=True).strip()
    if not _EVENT_TYPE.match(event_type):
        raise InvalidEvent(INVALID_VALUE, "field 'type': expected a detection method code such as SCANS "
                                          f"(A-Z, 0-9, _), found {event_type[:64]!r}")
    if event_type == IDS_EVENT_TYPE:
        # Reserved: an ADS event posing as IDS would reach actions that IDS events never reach.
        raise InvalidEvent(INVALID_VALUE, f"field 'type': {IDS_EVENT_TYPE} is reserved for IDS events "
                                          "(on the IDS topic)")
    source, source_ip = reader.ip("source")
    if source_ip is None:
        raise InvalidEvent(MISSING_FIELD, "field 'source': expected an IPv4 or IPv6 address, found nothing")
    mac = reader.text("mac").strip()
    if mac and not _MAC.match(mac):
        raise InvalidEvent(INVALID_VALUE, f"field 'mac': expected a MAC address such as 0c:70:00:00:00:00, "
                                          f"found {mac[:64]!r}")
    targets, target_ips = _targets(reader)
    return AdsEvent(
        id=event_id,  # type: ignore[arg-type]
        detected_at=reader.timestamp("timestamp", required=True),  # type: ignore[arg-type]
        first_flow=reader.timestamp("firstFlow"),
        type=event_type,
        type_desc=reader.text("typeDesc", free_text=True) or EVENT_TYPE_NAMES.get(event_type, ""),
        subtype=reader.text("subtype"),
        mitre_attack=_mitre(reader),
        perspective=reader.text("perspective", free_text=True),
        input_priority=_priority(reader),
        detail=reader.text("detail", free_text=True),
        detail_machine=reader.text("detailMachine", free_text=True),
        ports=_ports(reader),
        protocol=reader.text("protocol").strip(),
        source=source,
        captured_source=reader.text("capturedSource", free_text=True),
        targets=targets,
        data_feed=reader.text("dataFeed", "netFlowSource", free_text=True),
        data_feed_id=reader.integer("dataFeedId"),
        method_instance=reader.text("methodInstance", free_text=True),
        mac=mac,
        user_identity=reader.text("userIdentity", free_text=True),
        flows=_flows(reader),
        is_update=_is_update(obj),
        source_ip=source_ip,
        target_ips=target_ips,
    )


def ids_event_from_mapping(obj: Mapping[str, Any], limits: InputLimits) -> IdsEvent:
    """Validate one decoded IDS event into an IdsEvent."""
    reader = _Reader(obj, limits)
    src_ip, source_ip = reader.ip("srcIp")
    dst_ip, target_ip = reader.ip("dstIp")
    if source_ip is None or target_ip is None:
        missing = "srcIp" if source_ip is None else "dstIp"
        raise InvalidEvent(MISSING_FIELD, f"field {missing!r}: expected an IPv4 or IPv6 address, found nothing")
    ports = {}
    for name in ("srcPort", "dstPort"):
        port = reader.integer(name)
        if port is not None and port > 65535:
            raise InvalidEvent(INVALID_VALUE, f"field {name!r}: expected a port 0-65535, found {port}")
        ports[name] = port
    log_source_ip, _ = reader.ip("logSourceIp", required=False)
    return IdsEvent(
        id=reader.integer("id", required=True),  # type: ignore[arg-type]
        first_seen=reader.timestamp("firstSeen", required=True),  # type: ignore[arg-type]
        last_seen=reader.timestamp("lastSeen", required=True),  # type: ignore[arg-type]
        src_ip=src_ip,
        dst_ip=dst_ip,
        src_port=ports["srcPort"],
        dst_port=ports["dstPort"],
        protocol=reader.text("protocol").strip(),
        signature_id=reader.integer("signatureId"),
        signature_name=reader.text("signatureName", free_text=True),
        log_source_ip=log_source_ip,
        log_source_interface=reader.text("logSourceInterface"),
        category=reader.text("category", free_text=True),
        severity=reader.text("severity"),
        is_update=_is_update(obj),
        source_ip=source_ip,
        target_ips=(target_ip,),
    )


def parse_ads_json(data: bytes, limits: InputLimits) -> AdsEvent:
    return ads_event_from_mapping(decode_json_object(data, limits), limits)


def parse_ids_json(data: bytes, limits: InputLimits) -> IdsEvent:
    return ids_event_from_mapping(decode_json_object(data, limits), limits)


def looks_like_ids(obj: Mapping[str, Any]) -> bool:
    """The seed's rule for telling the two apart: IDS events have srcIp/dstIp/signatureName."""
    return "signatureName" in obj or ("srcIp" in obj and "dstIp" in obj)
