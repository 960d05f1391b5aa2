"""Traffic recording in a real worker: ADS events published to Kafka are captured by the worker's
own agent (agent: local) and downloadable from the worker per event; a remote agent that is down
is retried until it comes up, or dead-lettered when it stays down."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import orjson
import pytest

from streams import broker as embedded
from streams.config import load_settings
from streams.publish import publish_lines
from tests.kafka_helpers import WorkerProcess, read_topics

from .capture_support import DEADLINE_SECONDS, TOKEN, AgentProcess, agent_config, api, pcap_packets, traffic

pytestmark = pytest.mark.integration


def dos_event(event_id: int, source: str, target: str) -> bytes:
    # DOS is CRITICAL in the security perspective; detected now, so the offset reaches into the ring.
    return orjson.dumps({"id": event_id, "timestamp": time.time(), "type": "DOS", "source": source,
                         "targets": [target], "detail": f"event {event_id}"})


def capture_action(name: str, agent: object = "local", **options: object) -> dict:
    return {"name": name, "perspective": "security", "agent": agent, "group": 1, "live_recording_duration": "2s",
            "recording_start_offset": "3s", **options}


@contextmanager
def steady_traffic(*pairs: tuple[str, str]) -> Iterator[None]:
    """Datagrams between each pair every 50 ms, each carrying its number and the time it was sent."""
    stop = threading.Event()

    def run() -> None:
        with traffic() as network:
            sequence = 0
            while not stop.wait(0.05):
                for source, target in pairs:
                    network.send(source, target, f"{sequence}@{time.time():.6f}", count=1)
                sequence += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def wait_for(condition, what: str):
    deadline = time.monotonic() + DEADLINE_SECONDS * 2
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return result


def dumpcaps_under(directory: Path) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if line.startswith("dumpcap") and str(directory) in line]


def test_the_worker_records_events_itself_and_serves_their_captures(isolated_config, tmp_path: Path):
    port = embedded.free_port()
    capture = agent_config(tmp_path / "captures", port)["capture"]
    config = isolated_config(capture=capture, actions={"capture": [capture_action("record-attacks")]})
    settings = load_settings(config)
    worker_url = f"http://127.0.0.1:{port}"
    source, target, other, other_peer = "127.20.0.1", "127.20.0.2", "127.20.0.3", "127.20.0.4"
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    try:
        with steady_traffic((source, target), (target, source), (other, other_peer)):
            time.sleep(1.0)  # past packets, in the ring buffer before the event is detected
            publish_lines(settings, [dos_event(201, source, target)])

            def finished_download():
                status, listed = api(worker_url, "GET", "/events/201/captures")
                return status == 200 and listed and listed[0]["download"] and listed[0]
            listed = wait_for(finished_download, "the capture of event 201")
        capture_status = listed["capture"]
        assert (listed["source"], capture_status["id"], capture_status["state"]) == ("record-attacks", "201-1",
                                                                                    "finished")
        assert api(worker_url, "GET", listed["download"], token="wrong-token-0123456789")[0] == 401
        status, content = api(worker_url, "GET", listed["download"])
        assert status == 200
        (tmp_path / "201.pcapng").write_bytes(content)
        packets = pcap_packets(tmp_path / "201.pcapng")
        assert {(s, t) for s, t, _ in packets} == {(source, target), (target, source)}
        assert len(packets) == capture_status["packets"]
        sent = [payload.rsplit("-", 1)[0].split("@") for s, _, payload in packets if s == source]
        numbers, sent_times = [int(n) for n, _ in sent], [float(t) for _, t in sent]
        # Packets from the ring buffer and from the live recording, with none lost or doubled where
        # one ends and the other begins.
        assert min(sent_times) < capture_status["live_started_at"] < max(sent_times)
        assert numbers == list(range(numbers[0], numbers[-1] + 1))
    finally:
        worker.stop()
    assert dumpcaps_under(tmp_path / "captures") == []


def test_a_remote_agent_down_is_retried_until_it_is_up_or_dead_lettered(isolated_config, tmp_path: Path):
    worker_port, down_port, later_port, metrics_port = (embedded.free_port() for _ in range(4))
    capture = {"token": TOKEN, "listen": {"host": "127.0.0.1", "port": worker_port}}
    actions = {"capture": [
        capture_action("stays-down", {"url": f"http://127.0.0.1:{down_port}", "token": TOKEN},
                       retry={"max_attempts": 2, "initial_backoff": "100ms"}),
        capture_action("comes-up", {"url": f"http://127.0.0.1:{later_port}", "token": TOKEN},
                       retry={"max_attempts": 100, "initial_backoff": "200ms", "max_backoff": "500ms"}),
    ]}
    config = isolated_config(capture=capture, actions=actions, metrics={"host": "127.0.0.1", "port": metrics_port})
    settings = load_settings(config)
    worker = WorkerProcess(config, tmp_path / "worker.log").start()
    try:
        publish_lines(settings, [dos_event(202, "127.21.0.1", "127.21.0.2")])
        dead = read_topics(settings.kafka.bootstrap_servers, [settings.topics.dead_letter], 1)
        assert [(r.headers["ads-dlq-action"], r.headers["ads-dlq-reason"], r.headers["ads-dlq-attempts"])
                for r in dead] == [("stays-down", "connection_refused", "2")]

        def retries() -> float:
            text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
            found = re.search(r'ads_actions_delivery_retries_total\{action="comes-up",kind="capture"\} (\S+)', text)
            return float(found[1]) if found else 0.0
        wait_for(lambda: retries() >= 2, "retries of the comes-up action")
        with AgentProcess(tmp_path / "agent", port=later_port) as agent:
            listed = wait_for(lambda: api(agent.url, "GET", "/captures?event_id=202")[1], "the capture on the agent")
            assert [c["id"] for c in listed] == ["202-1"]
            wait_for(lambda: api(agent.url, "GET", "/captures/202-1")[1]["state"] == "finished", "its end")
            # Listed and downloaded through the worker, which asks the agent.
            status, through_worker = api(f"http://127.0.0.1:{worker_port}", "GET", "/events/202/captures")
            assert status == 200
            by_source = {entry["source"]: entry for entry in through_worker}
            assert "connection_refused" in by_source["stays-down"]["error"]
            assert by_source["comes-up"]["download"] == "/events/202/captures/comes-up/202-1.pcapng"
            status, content = api(f"http://127.0.0.1:{worker_port}", "GET", by_source["comes-up"]["download"])
            assert status == 200 and content == api(agent.url, "GET", "/captures/202-1/pcap")[1]
        # Delivered once: no dead letter for comes-up.
        dead = read_topics(settings.kafka.bootstrap_servers, [settings.topics.dead_letter], 1)
        assert [r.headers["ads-dlq-action"] for r in dead] == ["stays-down"]
    finally:
        worker.stop()
