"""SNMPv1 traps, SNMPv2c traps and informs as datagrams, and the header of a response: pure, no I/O.

The BER here is written by hand for the few types SNMP notifications use: building the same message
as pysnmp/pyasn1 objects and encoding it with pyasn1 costs about 3 ms of CPU, decoding an inform's
response (which echoes every varbind) about 4 ms, and the sink has well under 0.5 ms per delivery.
tests/unit/test_snmp_pdu.py checks that the bytes are those pyasn1 encodes for the message pysnmp's
protocol API (``pysnmp.proto.api``) builds.

The types and tags are pysnmp's (RFC 1157 for v1, RFC 1905/3416 for v2c); the encoding is the
shortest X.690 allows (definite lengths, fewest octets), as pyasn1's but for negative integers
-2^(8n-1), to which pyasn1 adds an octet (notifications carry no negative integers).
"""

from __future__ import annotations

import ipaddress
from functools import cache, lru_cache
from typing import Iterable, Literal, NamedTuple

from pyasn1.type import base, univ
from pysnmp.proto import api

from .snmp_varbinds import Value, Varbind

_V1 = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
_V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]


@cache
def _identifier(type_: type[base.Asn1Type]) -> int:
    """The BER identifier octet of an SNMP type: every SNMP tag number fits in its low five bits."""
    outermost = type_.tagSet[-1]
    return outermost.tagClass | outermost.tagFormat | outermost.tagId


INTEGER = _identifier(univ.Integer)
OCTET_STRING = _identifier(univ.OctetString)
OBJECT_IDENTIFIER = _identifier(univ.ObjectIdentifier)
SEQUENCE = _identifier(univ.Sequence)
IP_ADDRESS = _identifier(_V2C.IpAddress)
TIME_TICKS = _identifier(_V2C.TimeTicks)
V1_TRAP_PDU = _identifier(_V1.TrapPDU)
SNMPV2_TRAP_PDU = _identifier(_V2C.SNMPv2TrapPDU)
INFORM_REQUEST_PDU = _identifier(_V2C.InformRequestPDU)
RESPONSE_PDU = _identifier(_V2C.ResponsePDU)
V2C_PDU = {"trap": SNMPV2_TRAP_PDU, "inform": INFORM_REQUEST_PDU}

SNMP_VERSION_1 = api.SNMP_VERSION_1
SNMP_VERSION_2C = api.SNMP_VERSION_2C
SYS_UP_TIME_OID = _V2C.apiTrapPDU.sysUpTime
SNMP_TRAP_OID_OID = _V2C.apiTrapPDU.snmpTrapOID
V1_ENTERPRISE_SPECIFIC = 6  # generic-trap enterpriseSpecific(6)
NO_ERROR = 0
# TimeTicks (sysUpTime, time-stamp) count hundredths of a second modulo 2^32.
TIME_TICKS_MODULUS = 2 ** 32
_LONG_LENGTH = 0x80


class Response(NamedTuple):
    """The header of a response PDU: what matches it to its request. Its varbinds are not read."""

    version: int
    community: bytes
    request_id: int
    error_status: int
    error_index: int


def encode_varbinds(varbinds: Iterable[Varbind]) -> bytes:
    """The VarBind encodings of ``varbinds``, concatenated: the content of a VarBindList, built once
    per delivery for every destination's message."""
    return b"".join(_varbind(varbind.oid, _value(varbind.value)) for varbind in varbinds)


def v2c_notification(kind: Literal["trap", "inform"], community: bytes, request_id: int, uptime_ticks: int,
                     notification_oid: tuple[int, ...], event_varbinds: bytes) -> bytes:
    """An SNMPv2c SNMPv2-Trap or InformRequest message: sysUpTime.0, snmpTrapOID.0, then
    ``event_varbinds`` (from ``encode_varbinds``)."""
    varbinds = (_varbind(SYS_UP_TIME_OID, _tlv(TIME_TICKS, _integer_content(uptime_ticks % TIME_TICKS_MODULUS)))
                + _varbind(SNMP_TRAP_OID_OID, _oid(notification_oid)) + event_varbinds)
    pdu = _tlv(V2C_PDU[kind], _integer(request_id) + _integer(NO_ERROR) + _integer(0) + _tlv(SEQUENCE, varbinds))
    return _tlv(SEQUENCE, _integer(SNMP_VERSION_2C) + _tlv(OCTET_STRING, community) + pdu)


def v1_trap(community: bytes, notification_oid: tuple[int, ...], agent_address: str, uptime_ticks: int,
            event_varbinds: bytes) -> bytes:
    """An SNMPv1 Trap message for the SNMPv2 notification ``notification_oid``, translated as RFC 3584
    (3.2) says: enterprise-specific, the enterprise and specific-trap from the notification's OID;
    ``agent_address`` is IPv4 text."""
    if notification_oid[-2] == 0:
        enterprise = notification_oid[:-2]
    else:
        enterprise = notification_oid[:-1]
    pdu = _tlv(V1_TRAP_PDU, _oid(enterprise) + _tlv(IP_ADDRESS, ipaddress.IPv4Address(agent_address).packed)
               + _integer(V1_ENTERPRISE_SPECIFIC) + _integer(notification_oid[-1])
               + _tlv(TIME_TICKS, _integer_content(uptime_ticks % TIME_TICKS_MODULUS))
               + _tlv(SEQUENCE, event_varbinds))
    return _tlv(SEQUENCE, _integer(SNMP_VERSION_1) + _tlv(OCTET_STRING, community) + pdu)


def parse_response(datagram: bytes) -> Response:
    """The header of the SNMP Response message ``datagram``; ValueError for anything else."""
    try:
        identifier, start, end = _read_tlv(datagram, 0)
        if identifier != SEQUENCE or end != len(datagram):
            raise ValueError("not an SNMP message")
        version, start = _read_integer(datagram, start)
        identifier, community_start, start = _read_tlv(datagram, start)
        if identifier != OCTET_STRING:
            raise ValueError("no community")
        community = datagram[community_start:start]
        identifier, start, pdu_end = _read_tlv(datagram, start)
        if identifier != RESPONSE_PDU or pdu_end > end:
            raise ValueError("not a response")
        request_id, start = _read_integer(datagram, start)
        error_status, start = _read_integer(datagram, start)
        error_index, _ = _read_integer(datagram, start)
    except IndexError:
        raise ValueError("truncated") from None
    return Response(version, community, request_id, error_status, error_index)


def _value(value: Value) -> bytes:
    if isinstance(value, univ.Integer):
        content = _integer_content(int(value))
    elif isinstance(value, univ.OctetString):
        content = value.asOctets()
    else:
        raise TypeError(f"expected an SNMP integer or string value, found {type(value).__name__}")
    return _tlv(_identifier(type(value)), content)


def _varbind(oid: tuple[int, ...], encoded_value: bytes) -> bytes:
    return _tlv(SEQUENCE, _oid(oid) + encoded_value)


@lru_cache(maxsize=256)
def _oid(oid: tuple[int, ...]) -> bytes:
    """An OBJECT IDENTIFIER: the same few OIDs in every message, hence the cache."""
    first, second, *rest = oid
    content = bytearray()
    for arc in (first * 40 + second, *rest):
        septets = [arc & 0x7F]
        arc >>= 7
        while arc:
            septets.append(0x80 | (arc & 0x7F))
            arc >>= 7
        content.extend(reversed(septets))
    return _tlv(OBJECT_IDENTIFIER, bytes(content))


def _integer(value: int) -> bytes:
    return _tlv(INTEGER, _integer_content(value))


def _integer_content(value: int) -> bytes:
    """Two's complement in the fewest octets (an unsigned value with its top bit set gets a leading
    zero octet)."""
    magnitude = value if value >= 0 else ~value
    return value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)


def _tlv(identifier: int, content: bytes) -> bytes:
    size = len(content)
    if size < _LONG_LENGTH:
        return bytes((identifier, size)) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((identifier, _LONG_LENGTH | len(octets))) + octets + content


def _read_tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """(identifier, content start, content end) of the encoding at ``offset``."""
    identifier = data[offset]
    size = data[offset + 1]
    start = offset + 2
    if size & _LONG_LENGTH:
        octets = size & ~_LONG_LENGTH
        if not 0 < octets <= 4:  # 0: the indefinite form, which SNMP does not use
            raise ValueError("unsupported length")
        size = int.from_bytes(data[start:start + octets], "big")
        start += octets
    end = start + size
    if end > len(data):
        raise ValueError("truncated")
    return identifier, start, end


def _read_integer(data: bytes, offset: int) -> tuple[int, int]:
    """(value, offset after it) of the INTEGER at ``offset``."""
    identifier, start, end = _read_tlv(data, offset)
    if identifier != INTEGER or start == end:
        raise ValueError("expected an INTEGER")
    return int.from_bytes(data[start:end], "big", signed=True), end
