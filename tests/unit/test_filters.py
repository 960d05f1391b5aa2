"""IP filters: entry parsing, membership at the boundaries, set algebra and compilation of named
filters (unions, differences, inversions, unknown names, cycles)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.filters import FilterDefinition, FilterError, IpSet, compile_filters, ipset_from_entries, parse_entry

V4_MAX = (1 << 32) - 1
V6_MAX = (1 << 128) - 1


def ip(text: str):
    return ipaddress.ip_address(text)


def members(ipset: IpSet, *addresses: str) -> list[bool]:
    return [ipset.contains(ip(a)) for a in addresses]


# --- parse_entry -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("10.0.0.1", (4, 0x0A000001, 0x0A000001)),
    (" 10.0.0.1 ", (4, 0x0A000001, 0x0A000001)),
    ("10.0.0.0/8", (4, 0x0A000000, 0x0AFFFFFF)),
    # Host bits are allowed and ignored: 10.1.2.3/8 is the network 10.0.0.0/8.
    ("10.1.2.3/8", (4, 0x0A000000, 0x0AFFFFFF)),
    ("192.168.1.7/32", (4, 0xC0A80107, 0xC0A80107)),
    ("0.0.0.0/0", (4, 0, V4_MAX)),
    ("192.168.200.10-192.168.200.60", (4, 0xC0A8C80A, 0xC0A8C83C)),
    ("192.168.200.10 - 192.168.200.60", (4, 0xC0A8C80A, 0xC0A8C83C)),
    ("1.2.3.4-1.2.3.4", (4, 0x01020304, 0x01020304)),
    ("::1", (6, 1, 1)),
    ("2001:db8::/32", (6, 0x20010DB8 << 96, (0x20010DB8 << 96) | ((1 << 96) - 1))),
    ("2001:db8::5/128", (6, (0x20010DB8 << 96) | 5, (0x20010DB8 << 96) | 5)),
    ("::/0", (6, 0, V6_MAX)),
    ("2001:db8::1-2001:db8::ff", (6, (0x20010DB8 << 96) | 1, (0x20010DB8 << 96) | 0xFF)),
])
def test_parse_entry_gives_family_and_inclusive_bounds(text, expected):
    assert parse_entry(text) == expected


@pytest.mark.parametrize("text, message", [
    ("10.0.0.9-10.0.0.1", "ends before it starts"),
    ("10.0.0.1-::1", "mixes IPv4 and IPv6"),
    ("::1-10.0.0.1", "mixes IPv4 and IPv6"),
    ("", ""),
    ("10.0.0", ""),
    ("10.0.0.256", ""),
    ("10.0.0.0/33", ""),
    ("::/129", ""),
    ("10.0.0.1-", ""),
    ("-10.0.0.1", ""),
    ("10.0.0.0/8-10.1.0.0", ""),
    ("example.com", ""),
])
def test_parse_entry_rejects_invalid_entries(text, message):
    with pytest.raises(ValueError, match=message or None):
        parse_entry(text)


# --- membership ----------------------------------------------------------------------------------

def test_range_contains_exactly_its_first_to_last_address():
    dmz = ipset_from_entries(["192.168.200.10-192.168.200.60"])
    assert members(dmz, "192.168.200.9", "192.168.200.10", "192.168.200.35", "192.168.200.60",
                   "192.168.200.61") == [False, True, True, True, False]


def test_cidr_contains_exactly_its_network_to_broadcast_address():
    net = ipset_from_entries(["172.16.0.0/12"])
    assert members(net, "172.15.255.255", "172.16.0.0", "172.31.255.255", "172.32.0.0") == [
        False, True, True, False]


def test_host_routes_slash_32_and_slash_128_contain_one_address():
    hosts = ipset_from_entries(["10.0.0.5/32", "2001:db8::5/128"])
    assert members(hosts, "10.0.0.4", "10.0.0.5", "10.0.0.6") == [False, True, False]
    assert members(hosts, "2001:db8::4", "2001:db8::5", "2001:db8::6") == [False, True, False]


def test_single_addresses_are_members_and_neighbours_are_not():
    singles = ipset_from_entries(["10.0.0.1", "fe80::1"])
    assert members(singles, "10.0.0.0", "10.0.0.1", "10.0.0.2", "fe80::", "fe80::1", "fe80::2") == [
        False, True, False, False, True, False]


def test_ipv6_ranges_and_networks():
    v6 = ipset_from_entries(["fd00::/8", "2001:db8::100-2001:db8::1ff"])
    assert members(v6, "fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fd00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                   "fe00::") == [False, True, True, False]
    assert members(v6, "2001:db8::ff", "2001:db8::100", "2001:db8::1ff", "2001:db8::200") == [
        False, True, True, False]


def test_families_do_not_leak_into_each_other():
    # ::a00:1 has the same integer value as 10.0.0.1: the families are separate sets.
    v4_only = ipset_from_entries(["10.0.0.0/8"])
    v6_only = ipset_from_entries(["::/96"])
    assert members(v4_only, "10.0.0.1", "::a00:1") == [True, False]
    assert members(v6_only, "::a00:1", "10.0.0.1") == [True, False]


def test_whole_address_spaces_include_their_extremes():
    everything = ipset_from_entries(["0.0.0.0/0", "::/0"])
    assert members(everything, "0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == [
        True, True, True, True]
    nothing = IpSet()
    assert members(nothing, "0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == [
        False, False, False, False]


def test_overlapping_and_adjacent_entries_merge_into_disjoint_ranges():
    merged = ipset_from_entries(["10.0.0.0-10.0.0.9", "10.0.0.10-10.0.0.19", "10.0.0.5-10.0.0.12",
                                 "10.0.0.30", "10.0.0.0/28"])
    assert merged.v4 == ((0x0A000000, 0x0A000013), (0x0A00001E, 0x0A00001E))
    assert merged.v6 == ()


# --- set algebra ---------------------------------------------------------------------------------

def test_union_contains_members_of_either_side_and_stays_canonical():
    a = ipset_from_entries(["10.0.0.0-10.0.0.9", "::1"])
    b = ipset_from_entries(["10.0.0.10-10.0.0.20", "10.0.1.0"])
    union = a.union(b)
    assert union.v4 == ((0x0A000000, 0x0A000014), (0x0A000100, 0x0A000100))
    assert union.v6 == ((1, 1),)
    assert members(union, "10.0.0.0", "10.0.0.20", "10.0.0.21", "10.0.1.0", "::1") == [True, True, False, True, True]


def test_difference_removes_exactly_the_subtracted_addresses():
    internal = ipset_from_entries(["10.0.0.0/8"])
    guests = ipset_from_entries(["10.99.0.0/16"])
    staff = internal.difference(guests)
    assert members(staff, "10.0.0.0", "10.98.255.255", "10.99.0.0", "10.99.255.255", "10.100.0.0",
                   "10.255.255.255") == [True, True, False, False, True, True]


def test_difference_at_the_edges_of_a_range():
    block = ipset_from_entries(["10.0.0.0-10.0.0.10"])
    trimmed = block.difference(ipset_from_entries(["10.0.0.0", "10.0.0.10"]))
    assert trimmed.v4 == ((0x0A000001, 0x0A000009),)
    assert block.difference(block) == IpSet()
    assert block.difference(IpSet()) == block


def test_inverse_is_the_complement_in_both_families():
    internal = ipset_from_entries(["10.0.0.0/8", "fd00::/8"])
    external = internal.inverse()
    assert members(external, "9.255.255.255", "10.0.0.0", "10.255.255.255", "11.0.0.0",
                   "0.0.0.0", "255.255.255.255") == [True, False, False, True, True, True]
    assert members(external, "fd00::1", "fe00::", "::") == [False, True, True]
    assert external.inverse() == internal


def test_inverse_of_nothing_is_everything_and_back():
    assert IpSet().inverse() == IpSet(((0, V4_MAX),), ((0, V6_MAX),))
    assert IpSet().inverse().inverse() == IpSet()


def test_inverse_of_sets_touching_the_extremes():
    edges = ipset_from_entries(["0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])
    assert edges.inverse() == IpSet(((1, V4_MAX - 1),), ((1, V6_MAX - 1),))


def test_inverse_leaves_exactly_the_extreme_addresses_a_set_stops_short_of():
    inner = ipset_from_entries(["0.0.0.1-255.255.255.254", "::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"])
    assert inner.inverse() == IpSet(((0, 0), (V4_MAX, V4_MAX)), ((0, 0), (V6_MAX, V6_MAX)))
    assert members(inner.inverse(), "255.255.255.255", "255.255.255.254", "0.0.0.0", "0.0.0.1") == [
        True, False, True, False]


# A small window of the IPv4 space keeps a reference implementation (a Python set) cheap while
# still exercising adjacency, overlap and containment between ranges.
_WINDOW = 64
_ranges = st.lists(st.tuples(st.integers(0, _WINDOW - 1), st.integers(0, _WINDOW - 1)).map(sorted).map(tuple),
                   max_size=6)


def _ipset(ranges) -> IpSet:
    return ipset_from_entries([f"{ipaddress.IPv4Address(a)}-{ipaddress.IPv4Address(b)}" for a, b in ranges])


def _as_set(ranges) -> set[int]:
    return {value for a, b in ranges for value in range(a, b + 1)}


def _assert_canonical(ranges) -> None:
    # Sorted, non-empty, disjoint and not adjacent: what bisect-based membership relies on.
    for start, end in ranges:
        assert start <= end
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert start > end + 1


@settings(max_examples=300, deadline=None)
@given(_ranges, _ranges)
def test_set_algebra_agrees_with_python_sets(left, right):
    a, b = _ipset(left), _ipset(right)
    expected_a, expected_b = _as_set(left), _as_set(right)
    universe = range(_WINDOW + 2)
    for result, expected in [(a, expected_a), (a.union(b), expected_a | expected_b),
                             (a.difference(b), expected_a - expected_b)]:
        _assert_canonical(result.v4)
        assert {v for v in universe if result.contains(ipaddress.IPv4Address(v))} == expected
    inverse = a.inverse()
    _assert_canonical(inverse.v4)
    assert {v for v in universe if inverse.contains(ipaddress.IPv4Address(v))} == set(universe) - expected_a
    assert inverse.contains(ipaddress.IPv4Address(V4_MAX))
    assert inverse.inverse() == a


# --- compile_filters -----------------------------------------------------------------------------

def test_compile_filters_builds_relational_filters_from_others_in_any_order():
    compiled = compile_filters({
        # Defined before what it refers to: compilation order must not matter.
        "external": FilterDefinition(inverse_of="internal"),
        "staff": FilterDefinition(difference=("internal", "guests", "printers")),
        "internal": FilterDefinition(networks=("10.0.0.0/8", "fd00::/8")),
        "guests": FilterDefinition(networks=("10.99.0.0/16",)),
        "printers": FilterDefinition(networks=("10.0.5.0-10.0.5.255",)),
        "watched": FilterDefinition(union=("guests", "printers", "extra")),
        "extra": FilterDefinition(networks=("203.0.113.7",)),
    })
    assert set(compiled) == {"external", "staff", "internal", "guests", "printers", "watched", "extra"}
    assert members(compiled["staff"], "10.1.1.1", "10.99.1.1", "10.0.5.17", "10.0.6.0", "fd00::1") == [
        True, False, False, True, True]
    assert members(compiled["external"], "10.1.1.1", "8.8.8.8", "fd00::1", "2001:db8::1") == [
        False, True, False, True]
    assert members(compiled["watched"], "10.99.1.1", "10.0.5.0", "203.0.113.7", "10.1.1.1") == [
        True, True, True, False]


def test_compile_filters_nested_inversions_and_unions():
    compiled = compile_filters({
        "a": FilterDefinition(networks=("192.0.2.0/24",)),
        "not_a": FilterDefinition(inverse_of="a"),
        "a_again": FilterDefinition(inverse_of="not_a"),
        "everything": FilterDefinition(union=("a", "not_a")),
    })
    assert compiled["a_again"] == compiled["a"]
    assert compiled["everything"] == IpSet(((0, V4_MAX),), ((0, V6_MAX),))


def test_unknown_filter_name_raises_filter_error_naming_the_filter_and_field():
    with pytest.raises(FilterError) as raised:
        compile_filters({"a": FilterDefinition(networks=("10.0.0.1",)),
                         "b": FilterDefinition(union=("a", "nope"))})
    assert (raised.value.name, raised.value.field) == ("b", "union")
    assert raised.value.message == "expected the name of a defined filter, found 'nope'"


@pytest.mark.parametrize("definition, field", [
    (FilterDefinition(difference=("a", "ghost")), "difference"),
    (FilterDefinition(inverse_of="ghost"), "not"),
])
def test_unknown_names_in_every_relational_shape(definition, field):
    with pytest.raises(FilterError) as raised:
        compile_filters({"a": FilterDefinition(networks=()), "b": definition})
    assert (raised.value.name, raised.value.field) == ("b", field)
    assert "'ghost'" in raised.value.message


def test_self_reference_is_a_cycle():
    with pytest.raises(FilterError) as raised:
        compile_filters({"loop": FilterDefinition(inverse_of="loop")})
    assert raised.value.name == "loop"
    assert raised.value.message == "expected filters without cycles, found the cycle loop -> loop"


def test_longer_cycle_is_reported_with_its_path():
    with pytest.raises(FilterError) as raised:
        compile_filters({
            "a": FilterDefinition(union=("b",)),
            "b": FilterDefinition(difference=("c", "leaf")),
            "c": FilterDefinition(inverse_of="a"),
            "leaf": FilterDefinition(networks=("10.0.0.1",)),
        })
    assert raised.value.name == "c"
    assert raised.value.field == "not"
    assert raised.value.message == "expected filters without cycles, found the cycle a -> b -> c -> a"


def test_filter_error_is_a_value_error():
    assert issubclass(FilterError, ValueError)
