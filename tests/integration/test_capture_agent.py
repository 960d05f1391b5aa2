"""The capture agent with a real dumpcap ring buffer on lo, through its HTTP API: a capture holds
the event hosts' packets from the past window (ring buffer) and the live window, and nothing of
other hosts; offset 0 is live only; an offset beyond the TTL is reported; captures run at once
and are idempotent; the API refuses missing or wrong tokens, path traversal and filter injection.

Addresses are per test (127.<test>.x.y), so the shared agent's captures never see another test's
traffic. Nothing here measures time: states are polled with a generous deadline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .capture_support import AgentProcess, TOKEN, api, pcap_of, pcap_packets, traffic, wait_for_capture


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory):
    with AgentProcess(tmp_path_factory.mktemp("capture-agent")) as process:
        yield process


def request(event_id: int, hosts: list[str], start: float | None, live: float = 1.5, offset: float = 2.0,
            group: int = 1) -> dict:
    return {"event_id": event_id, "group": group, "hosts": hosts, "start": start, "live_recording_duration": live,
            "recording_start_offset": offset}


def test_a_capture_holds_the_past_and_live_packets_of_the_event_hosts_only(agent: AgentProcess, tmp_path: Path):
    source, target, other_source, other_target = "127.1.0.1", "127.1.0.2", "127.1.0.3", "127.1.0.4"
    with traffic() as network:
        network.send(source, target, "too-early")
        time.sleep(0.3)
        start = time.time()
        network.send(source, target, "past")
        network.send(target, source, "past-reply")
        network.send(other_source, other_target, "other-past")
        status, capture = api(agent.url, "POST", "/captures", body=request(101, [source, target], start))
        assert status == 201, capture
        assert (capture["id"], capture["state"] in ("queued", "live")) == ("101-1", True)
        assert capture["filter"] == f"host {source} or host {target}"
        while api(agent.url, "GET", "/captures/101-1")[1]["state"] == "queued":
            time.sleep(0.05)
        network.send(source, target, "live")
        network.send(other_source, other_target, "other-live")
        capture = wait_for_capture(agent.url, "101-1")
    assert capture["state"] == "finished", capture
    packets = pcap_packets(pcap_of(agent.url, "101-1", tmp_path))
    assert sorted(payload for _, _, payload in packets) == sorted(
        [f"past-{n}" for n in range(3)] + [f"past-reply-{n}" for n in range(3)] + [f"live-{n}" for n in range(3)])
    assert {(src, dst) for src, dst, _ in packets} == {(source, target), (target, source)}
    assert capture["packets"] == 9 and capture["notes"] == []


def test_offset_zero_records_live_traffic_only(agent: AgentProcess, tmp_path: Path):
    source, target = "127.2.0.1", "127.2.0.2"
    with traffic() as network:
        network.send(source, target, "before")
        status, capture = api(agent.url, "POST", "/captures", body=request(102, [source, target], None, offset=0))
        assert status == 201, capture
        while api(agent.url, "GET", "/captures/102-1")[1]["state"] == "queued":
            time.sleep(0.05)
        network.send(source, target, "live")
        capture = wait_for_capture(agent.url, "102-1")
    assert capture["state"] == "finished", capture
    assert sorted(p for _, _, p in pcap_packets(pcap_of(agent.url, "102-1", tmp_path))) == [f"live-{n}" for n in
                                                                                          range(3)]


def test_an_offset_beyond_the_ttl_is_reported_on_the_status_and_counted(agent: AgentProcess):
    before = agent.metric("ads_actions_capture_offset_beyond_ttl_total", interface="lo")
    status, capture = api(agent.url, "POST", "/captures",
                          body=request(103, ["127.3.0.1"], time.time() - 3600, live=1, offset=3600))
    assert status == 201, capture
    assert any("offset 3600 s exceeds the TTL 4 s of interface lo" in note for note in capture["notes"])
    assert agent.metric("ads_actions_capture_offset_beyond_ttl_total", interface="lo") == before + 1
    capture = wait_for_capture(agent.url, "103-1")
    assert capture["state"] == "finished" and capture["notes"]


def test_two_events_are_captured_at_once_each_with_its_own_hosts(agent: AgentProcess, tmp_path: Path):
    first, second = ("127.4.0.1", "127.4.0.2"), ("127.4.1.1", "127.4.1.2")
    with traffic() as network:
        start = time.time()
        network.send(*first, "first-past")
        network.send(*second, "second-past")
        for event_id, hosts in ((104, first), (105, second)):
            assert api(agent.url, "POST", "/captures", body=request(event_id, list(hosts), start, live=2))[0] == 201
        while {api(agent.url, "GET", f"/captures/{i}-1")[1]["state"] for i in (104, 105)} & {"queued"}:
            time.sleep(0.05)
        running = [c for c in api(agent.url, "GET", "/captures")[1] if c["event_id"] in (104, 105)]
        assert {c["state"] for c in running} <= {"live", "extracting", "finished"} and len(running) == 2
        network.send(*first, "first-live")
        network.send(*second, "second-live")
        results = [wait_for_capture(agent.url, f"{i}-1") for i in (104, 105)]
    assert [c["state"] for c in results] == ["finished", "finished"]
    # Both recorded live at the same time: each started before the other ended.
    assert results[0]["live_started_at"] < results[1]["finished_at"]
    assert results[1]["live_started_at"] < results[0]["finished_at"]
    for capture, name in zip(results, ("first", "second")):
        payloads = sorted(p for _, _, p in pcap_packets(pcap_of(agent.url, capture["id"], tmp_path)))
        assert payloads == sorted([f"{name}-past-{n}" for n in range(3)] + [f"{name}-live-{n}" for n in range(3)])


def test_starting_an_event_again_returns_the_existing_capture(agent: AgentProcess):
    body = request(106, ["127.5.0.1"], None, live=1, offset=0)
    status, first = api(agent.url, "POST", "/captures", body=body)
    assert status == 201
    status, again = api(agent.url, "POST", "/captures", body=body)
    assert (status, again["id"], again["requested_at"]) == (200, first["id"], first["requested_at"])
    listed = api(agent.url, "GET", "/captures?event_id=106")[1]
    assert [c["id"] for c in listed] == ["106-1"]
    assert wait_for_capture(agent.url, "106-1")["state"] == "finished"
    assert api(agent.url, "GET", "/events/106/captures")[1][0]["download"] == "/events/106/captures/local/106-1.pcapng"
    assert api(agent.url, "GET", "/events/106/captures/local/106-1.pcapng")[0] == 200
    assert api(agent.url, "DELETE", "/captures/106-1")[0] == 204
    assert api(agent.url, "GET", "/captures/106-1")[0] == 404
    assert not (agent.directory / "data" / "captures" / "106-1").exists()


@pytest.mark.parametrize("method, path", [("GET", "/captures"), ("POST", "/captures"), ("GET", "/captures/1-1"),
                                          ("GET", "/captures/1-1/pcap"), ("DELETE", "/captures/1-1"),
                                          ("GET", "/events/1/captures")])
@pytest.mark.parametrize("token", [None, "wrong-token-0123456789abcdef", TOKEN[:-1], TOKEN + "x", ""])
def test_every_route_refuses_a_missing_or_wrong_token(agent: AgentProcess, method: str, path: str, token: str | None):
    body = request(107, ["127.6.0.1"], None, offset=0) if method == "POST" else None
    status, answer = api(agent.url, method, path, token, body)
    assert status == 401, answer
    assert api(agent.url, "GET", "/captures?event_id=107")[1] == []
    assert TOKEN not in (agent.log.read_text())


@pytest.mark.parametrize("path", ["/captures/../../../etc/passwd", "/captures/..%2f..%2fetc%2fpasswd/pcap",
                                  "/captures/1-1%2f..%2f..%2fagent.yaml/pcap", "/captures/abc/pcap",
                                  "/captures/-1-1/pcap", "/events/1/captures/local/..%2f..%2fagent.yaml",
                                  "/events/..%2f1/captures", "/events/1/captures/local/1-1.pcapng/../../agent.yaml"])
def test_paths_outside_the_routes_are_not_found(agent: AgentProcess, path: str):
    status, content = api(agent.url, "GET", path)
    assert status == 404, content
    assert b"capture:" not in (content if isinstance(content, bytes) else b"")


@pytest.mark.parametrize("field, value", [
    ("hosts", ["127.7.0.1 or host 127.7.0.2"]),
    ("hosts", ["127.7.0.1) or (udp"]),
    ("hosts", ["fe80::1%lo or host 127.7.0.2"]),
    ("hosts", ["127.7.0.1\nhost 127.7.0.2"]),
    ("hosts", []),
    ("event_id", "108/../../../etc"),
    ("event_id", -1),
    ("event_id", 1.5),
    ("group", "1 or 2"),
    ("start", "yesterday"),
    ("live_recording_duration", 0),
])
def test_requests_with_injected_or_invalid_fields_are_refused(agent: AgentProcess, field: str, value: object):
    body = {**request(108, ["127.7.0.1"], None, offset=0), field: value}
    status, answer = api(agent.url, "POST", "/captures", body=body)
    assert status == 400, answer
    assert field in answer["error"]
    assert api(agent.url, "GET", "/captures?event_id=108")[1] == []


def test_an_unknown_group_and_a_too_long_recording_are_refused(agent: AgentProcess):
    status, answer = api(agent.url, "POST", "/captures", body=request(109, ["127.8.0.1"], None, offset=0, group=9))
    assert (status, answer["error"]) == (422, "expected the id of a configured capture group (1), found 9")
    status, answer = api(agent.url, "POST", "/captures", body=request(109, ["127.8.0.1"], None, live=86400))
    assert status == 422 and "live recording duration of at most 3600 s" in answer["error"]
    assert api(agent.url, "POST", "/captures", raw_body=b"{not json")[0] == 400
