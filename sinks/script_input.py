"""What a custom script reads on stdin: one line per event (pure formatting, no I/O).

ADS events, by the action's ``input_format``:

- ``tsv``: 15 tab-separated fields: ID, detection time, first flow time, type, type description,
  perspective, priority, detail, ports, protocol, source, captured source name, targets, data
  feed, user identity.
- ``tsv-extended``: 17 fields: the same with subtype and MITRE ATT&CK after the type.
- ``json``: one JSON object per line with the seed's keys (``id, timestamp, firstFlow, type,
  typeDesc, subtype, mitreAttack, perspective, severity, detail, port, protocol, source,
  capturedSource, targets, netFlowSource, userIdentity``).

IDS events have one shape in every format (the seed: "the attributes are the same for both"):
14 tab-separated fields, or a JSON object with the keys ``id, firstSeen, lastSeen, srcIp,
srcPort, dstIp, dstPort, protocol, signatureId, signatureName, logSourceIp, logSourceInterface,
category, severity`` (severity is the IDS event's own, not a perspective's priority).

Choices, for script writers:

- Perspective is the name of the action's perspective; priority (JSON: severity) is the word that
  perspective gave the event (CRITICAL, HIGH, MEDIUM, LOW, INFORMATION), empty when it gave none.
- Times are UTC as ``%Y-%m-%d %H:%M:%S`` (as ADS writes them; real scripts disagree on epoch
  seconds for the first flow time, so there is one format for every time). No first flow time: empty.
- Targets are one text field, addresses joined by ``", "`` (as the seed's JSON example).
- MITRE ATT&CK in TSV is ``TACTIC:TECHNIQUE`` pairs joined by ``,`` (``TA0008:T1570,TA0007:T1046``);
  a tactic without techniques is its code alone. JSON keeps the seed's nested form.
- TSV: an empty field is a single space (so that ``IFS=$'\\t' read`` never merges two fields), and
  every control character inside a value (tab, newline, carriage return, the rest of C0 and C1)
  and the Unicode line and paragraph separators become a space: a value can never add a field
  or a line.
- JSON: values are kept exactly; JSON escapes control characters, and the characters some line
  readers split on besides ``\\n`` (C1 controls, U+2028, U+2029) are written as ``\\uXXXX`` escapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from streams.avro_codec import ids_event_record
from streams.events import AdsEvent, IdsEvent
from streams.priorities import Priority

InputFormat = Literal["tsv", "tsv-extended", "json"]

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
ADS_TSV_FIELDS = 15
ADS_TSV_EXTENDED_FIELDS = 17
IDS_TSV_FIELDS = 14

_BREAKS_A_FIELD = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# json.dumps already escapes C0 controls; these are the other characters str.splitlines() and
# similar readers treat as line ends.
_UNESCAPED_LINE_BREAKS = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def tsv_field(value: str) -> str:
    """One TSV field: control characters become spaces, an empty value a single space."""
    return _BREAKS_A_FIELD.sub(" ", value) or " "


def format_time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT) if moment is not None else ""


def mitre_text(tactics: tuple[Mapping[str, Any], ...]) -> str:
    """The compact TSV form of MITRE ATT&CK: ``TA0008:T1570,TA0007:T1046``."""
    pairs = []
    for tactic in tactics:
        techniques = tactic.get("techniques") or []
        pairs += [f"{tactic['code']}:{t['code']}" for t in techniques] or [tactic["code"]]
    return ",".join(pairs)


def _mitre_json(tactics: tuple[Mapping[str, Any], ...]) -> list[dict[str, Any]]:
    # Events store tactics flat (as Avro does); the seed's JSON nests them under "tactic".
    return [{"tactic": {"code": t["code"], "name": t["name"],
                        "techniques": [{"code": x["code"], "name": x["name"]} for x in t.get("techniques") or []]},
             "version": t.get("version")} for t in tactics]


def _ads_tsv(event: AdsEvent, perspective: str, priority: Priority | None, extended: bool) -> list[str]:
    fields = [str(event.id), format_time(event.detected_at), format_time(event.first_flow), event.type]
    if extended:
        fields += [event.subtype, mitre_text(event.mitre_attack)]
    return fields + [event.type_desc, perspective, priority.name if priority else "", event.detail, event.ports,
                     event.protocol, event.source, event.captured_source, ", ".join(event.targets),
                     event.data_feed, event.user_identity]


def _ads_json(event: AdsEvent, perspective: str, priority: Priority | None) -> dict[str, Any]:
    return {
        "id": event.id,
        "timestamp": format_time(event.detected_at),
        "firstFlow": format_time(event.first_flow),
        "type": event.type,
        "typeDesc": event.type_desc,
        "subtype": event.subtype,
        "mitreAttack": _mitre_json(event.mitre_attack),
        "perspective": perspective,
        "severity": priority.name if priority else "",
        "detail": event.detail,
        "port": event.ports,
        "protocol": event.protocol,
        "source": event.source,
        "capturedSource": event.captured_source,
        "targets": ", ".join(event.targets),
        "netFlowSource": event.data_feed,
        "userIdentity": event.user_identity,
    }


def _ids_json(event: IdsEvent) -> dict[str, Any]:
    # The seed's IDS keys are those of the IdsEvent Avro record, in its order, less "update".
    record = ids_event_record(event)
    del record["update"]
    record.update(firstSeen=format_time(event.first_seen), lastSeen=format_time(event.last_seen))
    return record


def _ids_tsv(event: IdsEvent) -> list[str]:
    return ["" if value is None else str(value) for value in _ids_json(event).values()]


def _json_line(record: dict[str, Any]) -> str:
    text = json.dumps(record, ensure_ascii=False)
    return _UNESCAPED_LINE_BREAKS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def script_line(event: AdsEvent | IdsEvent, input_format: InputFormat, perspective: str,
                priority: Priority | None) -> str:
    """The stdin line (without its newline) for one event, as an action bound to ``perspective``
    that gave the event ``priority`` hands it to its script."""
    if isinstance(event, IdsEvent):
        if input_format == "json":
            return _json_line(_ids_json(event))
        return "\t".join(tsv_field(value) for value in _ids_tsv(event))
    if input_format == "json":
        return _json_line(_ads_json(event, perspective, priority))
    fields = _ads_tsv(event, perspective, priority, extended=input_format == "tsv-extended")
    return "\t".join(tsv_field(value) for value in fields)
