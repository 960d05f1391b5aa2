"""sinks/snmp_pdu.py: the hand-written BER is byte for byte what pyasn1 encodes for the same message
built with pysnmp's protocol API, decodes back with pysnmp's decoder to what was meant, and the
response parser reads what pysnmp encodes and refuses anything else."""

from __future__ import annotations

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api
from pysnmp.proto.rfc1902 import Integer32, IpAddress, OctetString, Unsigned32

from sinks.snmp_pdu import (SNMP_TRAP_OID_OID, SYS_UP_TIME_OID, encode_varbinds, parse_response, v1_trap,
                            v2c_notification)
from sinks.snmp_varbinds import EVENT_NOTIFICATION_OID, Varbind, event_varbinds
from streams.events import InputLimits, ads_event_from_mapping
from streams.priorities import Priority

V1 = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
EVENT = ads_event_from_mapping({
    "id": 123456, "timestamp": "2025-05-14 15:10:28.75", "type": "SCANS", "subtype": "TCP SYN",
    "detail": "Scanned ports: 22, 23, 80", "port": "22, 23, 80", "protocol": "TCP", "source": "10.10.10.10",
    "targets": ["10.20.20.20", "10.20.20.21"],
}, InputLimits())
VARBINDS = event_varbinds(EVENT, perspective="Security", perspective_id=7, priority=Priority.HIGH)
# Lengths of one, two and three octets, integers at the edges of their octet counts, negative ones
# (but -2^(8n-1): pyasn1 gives those an extra 0xff octet, below).
EDGE_VARBINDS = [
    Varbind("empty", (1, 3, 6, 1, 4, 1, 8072, 9999, 1), OctetString(b"")),
    Varbind("long", (1, 3, 6, 1, 4, 1, 8072, 9999, 2), OctetString(b"x" * 200)),
    Varbind("longest", (1, 3, 6, 1, 4, 1, 8072, 9999, 3), OctetString(b"y" * 65535)),  # its VarBind: 3 octets
    *(Varbind(f"unsigned-{n}", (1, 3, 6, 1, 4, 1, 8072, 9999, 4, i), Unsigned32(n))
      for i, n in enumerate((0, 127, 128, 255, 256, 2**31, 2**32 - 1))),
    *(Varbind(f"integer-{n}", (1, 3, 6, 1, 4, 1, 8072, 9999, 5, i), Integer32(n))
      for i, n in enumerate((-1, -129, -2**31 + 1, 2**31 - 1))),
    Varbind("address", (1, 3, 6, 1, 6, 3, 18, 1, 3, 0), IpAddress("192.0.2.7")),
    Varbind("big arcs", (2, 999, 16383, 16384, 2**32 - 1), OctetString(b"arcs")),
]
REQUEST_IDS = [0, 1, 127, 128, 255, 256, 0x7FFF, 0x8000, 2**31 - 1]


def pysnmp_v2c(kind: str, community: bytes, request_id: int, uptime: int, varbinds: list[Varbind]) -> bytes:
    pdu = V2C.SNMPv2TrapPDU() if kind == "trap" else V2C.InformRequestPDU()
    V2C.apiTrapPDU.set_defaults(pdu)
    V2C.apiTrapPDU.set_request_id(pdu, request_id)
    V2C.apiTrapPDU.set_varbinds(pdu, [(SYS_UP_TIME_OID, V2C.TimeTicks(uptime)),
                                      (SNMP_TRAP_OID_OID, V2C.ObjectIdentifier(EVENT_NOTIFICATION_OID)),
                                      *((varbind.oid, varbind.value) for varbind in varbinds)])
    message = V2C.Message()
    V2C.apiMessage.set_defaults(message)
    V2C.apiMessage.set_community(message, community)
    V2C.apiMessage.set_pdu(message, pdu)
    return encoder.encode(message)


def pysnmp_v1(community: bytes, agent_address: str, uptime: int, varbinds: list[Varbind]) -> bytes:
    pdu = V1.TrapPDU()
    # Not set_defaults: it looks up this host's address in the resolver.
    V1.apiTrapPDU.set_enterprise(pdu, EVENT_NOTIFICATION_OID[:-2])
    V1.apiTrapPDU.set_agent_address(pdu, V1.IpAddress(agent_address))
    V1.apiTrapPDU.set_generic_trap(pdu, 6)
    V1.apiTrapPDU.set_specific_trap(pdu, EVENT_NOTIFICATION_OID[-1])
    V1.apiTrapPDU.set_timestamp(pdu, uptime)
    V1.apiTrapPDU.set_varbinds(pdu, [(varbind.oid, varbind.value) for varbind in varbinds])
    message = V1.Message()
    V1.apiMessage.set_defaults(message)
    V1.apiMessage.set_community(message, community)
    V1.apiMessage.set_pdu(message, pdu)
    return encoder.encode(message)


def decoded(datagram: bytes, version: int):
    module = api.PROTOCOL_MODULES[version]
    message, rest = decoder.decode(datagram, asn1Spec=module.Message())
    assert rest == b""
    return module, message, module.apiMessage.get_pdu(message)


@pytest.mark.parametrize("kind", ["trap", "inform"])
@pytest.mark.parametrize("request_id", REQUEST_IDS)
def test_v2c_notification_is_what_pysnmp_encodes(kind: str, request_id: int):
    for varbinds in (VARBINDS, EDGE_VARBINDS):
        ours = v2c_notification(kind, b"public", request_id, 4321, EVENT_NOTIFICATION_OID, encode_varbinds(varbinds))
        assert ours == pysnmp_v2c(kind, b"public", request_id, 4321, varbinds)


@pytest.mark.parametrize("kind", ["trap", "inform"])
def test_v2c_notification_decodes_to_its_parts(kind: str):
    datagram = v2c_notification(kind, b"s\xe9cret", 0x12345678, 2**32 + 5, EVENT_NOTIFICATION_OID,
                                encode_varbinds(VARBINDS))
    module, message, pdu = decoded(datagram, api.SNMP_VERSION_2C)
    assert bytes(module.apiMessage.get_community(message)) == b"s\xe9cret"
    assert isinstance(pdu, V2C.SNMPv2TrapPDU if kind == "trap" else V2C.InformRequestPDU)
    assert module.apiPDU.get_request_id(pdu) == 0x12345678
    assert (module.apiPDU.get_error_status(pdu), module.apiPDU.get_error_index(pdu)) == (0, 0)
    [(uptime_oid, uptime), (trap_oid, notification), *rest] = module.apiPDU.get_varbinds(pdu)
    assert (tuple(uptime_oid), int(uptime)) == (SYS_UP_TIME_OID, 5)  # TimeTicks wrap at 2^32
    assert (tuple(trap_oid), tuple(notification)) == (SNMP_TRAP_OID_OID, EVENT_NOTIFICATION_OID)
    assert [(tuple(oid), value) for oid, value in rest] == [(varbind.oid, varbind.value) for varbind in VARBINDS]


@pytest.mark.parametrize("agent_address", ["127.0.0.1", "0.0.0.0", "192.0.2.255"])
def test_v1_trap_is_what_pysnmp_encodes(agent_address: str):
    for varbinds in (VARBINDS, EDGE_VARBINDS):
        ours = v1_trap(b"public", EVENT_NOTIFICATION_OID, agent_address, 99, encode_varbinds(varbinds))
        assert ours == pysnmp_v1(b"public", agent_address, 99, varbinds)


def test_v1_trap_is_the_rfc_3584_translation_of_the_notification():
    datagram = v1_trap(b"public", EVENT_NOTIFICATION_OID, "192.0.2.7", 4321, encode_varbinds(VARBINDS))
    module, message, pdu = decoded(datagram, api.SNMP_VERSION_1)
    trap = module.apiTrapPDU
    assert bytes(module.apiMessage.get_community(message)) == b"public"
    assert tuple(trap.get_enterprise(pdu)) == EVENT_NOTIFICATION_OID[:-2]  # adsActionsMIB
    assert trap.get_agent_address(pdu).prettyPrint() == "192.0.2.7"
    assert (int(trap.get_generic_trap(pdu)), int(trap.get_specific_trap(pdu))) == (6, 1)
    assert int(trap.get_timestamp(pdu)) == 4321
    assert [tuple(oid) for oid, _ in trap.get_varbinds(pdu)] == [varbind.oid for varbind in VARBINDS]


@pytest.mark.parametrize(("value", "content"), [(-128, b"\x80"), (-2**31, b"\x80\x00\x00\x00")])
def test_negative_powers_of_two_take_the_fewest_octets(value: int, content: bytes):
    """X.690 8.3.2: no leading 0xff octet before one with its top bit set. pyasn1 adds one there, and
    decodes both."""
    oid = (1, 3, 6, 1, 4, 1, 8072, 9999, 6)
    encoded = encode_varbinds([Varbind("negative", oid, Integer32(value))])
    assert encoded.endswith(b"\x02" + bytes([len(content)]) + content)
    _, _, pdu = decoded(v2c_notification("trap", b"public", 1, 0, EVENT_NOTIFICATION_OID, encoded), api.SNMP_VERSION_2C)
    assert int(V2C.apiPDU.get_varbinds(pdu)[-1][1]) == value


def pysnmp_response(request_id: int, error_status: int = 0, community: bytes = b"public") -> bytes:
    inform = decoder.decode(v2c_notification("inform", community, request_id, 0, EVENT_NOTIFICATION_OID,
                                             encode_varbinds(VARBINDS)), asn1Spec=V2C.Message())[0]
    response = V2C.apiMessage.get_response(inform)  # the request's varbinds echoed, as snmptrapd does
    pdu = V2C.apiMessage.get_pdu(response)
    V2C.apiPDU.set_varbinds(pdu, V2C.apiPDU.get_varbinds(V2C.apiMessage.get_pdu(inform)))
    V2C.apiPDU.set_error_status(pdu, error_status)
    return encoder.encode(response)


@pytest.mark.parametrize("request_id", REQUEST_IDS)
def test_parse_response_reads_the_header_pysnmp_encodes(request_id: int):
    response = parse_response(pysnmp_response(request_id, error_status=16, community=b"private"))
    assert response.version == api.SNMP_VERSION_2C
    assert response.community == b"private"
    assert response.request_id == request_id
    assert (response.error_status, response.error_index) == (16, 0)


@pytest.mark.parametrize("datagram", [
    b"",
    b"garbage",
    b"\x30",
    b"\x30\x80\x00\x00",  # indefinite length
    pysnmp_response(7)[:-1],  # truncated
    pysnmp_response(7) + b"\x00",  # trailing octets
    v2c_notification("inform", b"public", 7, 0, EVENT_NOTIFICATION_OID, b""),  # a request, not a response
    b"\x30\x0b\x02\x01\x01\x04\x00\xa2\x04\x02\x00\x02\x00",  # an INTEGER without content
], ids=["empty", "text", "identifier only", "indefinite", "truncated", "trailing", "inform", "empty integer"])
def test_parse_response_refuses_anything_else(datagram: bytes):
    with pytest.raises(ValueError):
        parse_response(datagram)
