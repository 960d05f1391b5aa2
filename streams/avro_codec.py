"""Avro single-object encoding (``C3 01`` + CRC-64-AVRO fingerprint + body) for every internal
topic and for Avro input. The fingerprint names the writer schema, so a reader resolves messages
written by any recorded schema version to its current one (schemas/README.md).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import fastavro

from . import schemas
from .events import AdsEvent, IdsEvent
from .priorities import Priority
from .routing import Route

MAGIC = b"\xc3\x01"
HEADER_LENGTH = len(MAGIC) + 8


class AvroDecodeError(ValueError):
    pass


class AvroCodec:
    """Encodes with the current schema of one record type; decodes any recorded version of it."""

    def __init__(self, name: str):
        self.schema = fastavro.parse_schema(schemas.current_schema(name))
        self.prefix = MAGIC + schemas.fingerprint(self.schema)
        # Only versions of this record: a message of another type must fail as an unknown
        # schema, not decode as garbage.
        self._writers = {fp: writer for fp, writer in schemas.historical_schemas().items()
                         if writer["name"] == self.schema["name"]}
        self._writers[self.prefix[2:]] = self.schema

    def encode(self, record: dict[str, Any]) -> bytes:
        return self.prefix + self.encode_body(record)

    def encode_body(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self.schema, record)
        return buffer.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        if len(data) < HEADER_LENGTH or data[:2] != MAGIC:
            raise AvroDecodeError("expected Avro single-object encoding (C3 01 + fingerprint), "
                                  f"found {data[:10].hex() or 'nothing'}")
        writer = self._writers.get(data[2:HEADER_LENGTH])
        if writer is None:
            raise AvroDecodeError(f"unknown writer schema fingerprint {data[2:HEADER_LENGTH].hex()}")
        buffer = io.BytesIO(data)
        buffer.seek(HEADER_LENGTH)
        try:
            record = fastavro.schemaless_reader(buffer, writer, self.schema, return_record_name=True)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise AvroDecodeError(f"corrupt Avro body: {exc.__class__.__name__}: {exc}"[:300]) from None
        if buffer.tell() != len(data):
            raise AvroDecodeError(f"{len(data) - buffer.tell()} bytes left after the Avro record")
        return record


def ads_event_record(event: AdsEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "timestamp": event.detected_at,
        "firstFlow": event.first_flow,
        "type": event.type,
        "typeDesc": event.type_desc,
        "subtype": event.subtype,
        "mitreAttack": list(event.mitre_attack),
        "perspective": event.perspective,
        "severity": event.input_priority.name if event.input_priority else None,
        "detail": event.detail,
        "port": event.ports,
        "protocol": event.protocol,
        "source": event.source,
        "capturedSource": event.captured_source,
        "targets": list(event.targets),
        "netFlowSource": event.data_feed,
        "dataFeedId": event.data_feed_id,
        "methodInstance": event.method_instance,
        "mac": event.mac,
        "userIdentity": event.user_identity,
        "flows": [dict(flow) for flow in event.flows],
        "update": event.is_update,
        "detailMachine": event.detail_machine,
    }


def ids_event_record(event: IdsEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "firstSeen": event.first_seen,
        "lastSeen": event.last_seen,
        "srcIp": event.src_ip,
        "srcPort": event.src_port,
        "dstIp": event.dst_ip,
        "dstPort": event.dst_port,
        "protocol": event.protocol,
        "signatureId": event.signature_id,
        "signatureName": event.signature_name,
        "logSourceIp": event.log_source_ip,
        "logSourceInterface": event.log_source_interface,
        "category": event.category,
        "severity": event.severity,
        "update": event.is_update,
    }


def ads_event_from_record(record: dict[str, Any]) -> AdsEvent:
    """The inverse of ads_event_record, for records ads-actions wrote itself (the routed messages):
    they were validated when they came in, so they are not parsed again (a third of a sink's CPU
    per delivery went to validating them a second time). Parsed addresses are left out: only
    routing uses them."""
    severity = record["severity"]
    if isinstance(severity, tuple):  # a named type in a union comes back as (name, value)
        severity = severity[1]
    return AdsEvent(
        id=record["id"], detected_at=record["timestamp"], type=record["type"], source=record["source"],
        type_desc=record["typeDesc"], first_flow=record["firstFlow"], subtype=record["subtype"],
        mitre_attack=tuple(record["mitreAttack"]), perspective=record["perspective"],
        input_priority=Priority[severity] if severity else None, detail=record["detail"],
        detail_machine=record["detailMachine"], ports=record["port"], protocol=record["protocol"],
        captured_source=record["capturedSource"], targets=tuple(record["targets"]),
        data_feed=record["netFlowSource"], data_feed_id=record["dataFeedId"], method_instance=record["methodInstance"],
        mac=record["mac"], user_identity=record["userIdentity"], flows=tuple(record["flows"]),
        is_update=record["update"])


def ids_event_from_record(record: dict[str, Any]) -> IdsEvent:
    """The inverse of ids_event_record, for records ads-actions wrote itself (see above)."""
    return IdsEvent(
        id=record["id"], first_seen=record["firstSeen"], last_seen=record["lastSeen"], src_ip=record["srcIp"],
        dst_ip=record["dstIp"], src_port=record["srcPort"], dst_port=record["dstPort"], protocol=record["protocol"],
        signature_id=record["signatureId"], signature_name=record["signatureName"],
        log_source_ip=record["logSourceIp"], log_source_interface=record["logSourceInterface"],
        category=record["category"], severity=record["severity"], is_update=record["update"])


# Avro encodes a union branch as its zig-zag varint index: 0 -> 0x00, 1 -> 0x02.
_EVENT_BRANCH = {AdsEvent: b"\x00", IdsEvent: b"\x02"}


class RoutedActionEncoder:
    """Builds RoutedAction messages without re-encoding the event for every action.

    An Avro record's binary form is its fields' encodings concatenated, and ``event`` is the last
    field of RoutedAction; so a message is the encoded header fields, the union branch, and the
    event's body, which is encoded once per event however many actions it is routed to.
    """

    def __init__(self) -> None:
        self.routed = AvroCodec("ads_actions.RoutedAction")
        self._events = {AdsEvent: AvroCodec("ads_actions.AdsEvent"), IdsEvent: AvroCodec("ads_actions.IdsEvent")}
        header_fields = [f for f in schemas.current_schema("ads_actions.RoutedAction")["fields"] if f["name"] != "event"]
        self._header_schema = fastavro.parse_schema(
            {"type": "record", "name": "RoutedActionHeader", "namespace": "ads_actions.internal",
             "fields": header_fields})
        self._headers: dict[Route, bytes] = {}
        self._headers_at: datetime | None = None

    def event_body(self, event: AdsEvent | IdsEvent) -> bytes:
        record = ads_event_record(event) if isinstance(event, AdsEvent) else ids_event_record(event)
        return _EVENT_BRANCH[type(event)] + self._events[type(event)].encode_body(record)

    def encode(self, route: Route, routed_at: datetime, event_body: bytes) -> bytes:
        return self._header(route, routed_at) + event_body

    def _header(self, route: Route, routed_at: datetime) -> bytes:
        """The message up to the event. The router gives a whole batch one routedAt, so this is the
        same for every event of a batch routed to one action: encoded once per batch and route."""
        if routed_at != self._headers_at:
            self._headers.clear()
            self._headers_at = routed_at
        header = self._headers.get(route)
        if header is None:
            buffer = io.BytesIO()
            buffer.write(self.routed.prefix)
            fastavro.schemaless_writer(buffer, self._header_schema, {
                "action": route.action,
                "kind": route.kind,
                "perspective": route.perspective,
                "perspectiveId": route.perspective_id,
                "priority": route.priority.name,
                "routedAt": routed_at,
            })
            header = self._headers[route] = buffer.getvalue()
        return header
