"""Sink benchmark (``make bench``): end-to-end latency from publish to delivery for syslog, SNMP and
a script at a steady input rate, and the sustained syslog delivery rate of one worker.

1. Latency. One worker routes DOS events to three actions: CEF over UDP to a private rsyslog, SNMP
   v2c traps to a private snmptrapd, and a script. Events are published at a steady rate (1,000/s
   by default). Latency of a delivery = when the receiver had it minus when the benchmark
   published the event: rsyslog's own receive time (timegenerated, microseconds); for snmptrapd,
   which logs no sub-second time, when its log line appeared (the log is polled every millisecond);
   for the script, the time it wrote itself for each event it read. Baseline, same run: the
   routing latency of the same events (publish to the routed message's Kafka timestamp), i.e. the
   part of the delivery latency that is not the sinks'.
2. Syslog rate. 20,000 events are published first, then one worker delivers them (UDP, to
   rsyslog); rate = events / time between rsyslog receiving the first and the last. Baseline, same
   run: the SyslogSink alone (no Kafka, no Faust) delivering the same events in batches of 100.

The broker is the embedded Tansu unless $KAFKA_BOOTSTRAP_SERVERS names a cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import orjson
import yaml

from router import bootstrap_servers, broker_description, fail, print_header, worker_process
from sinks.base import Delivery
from sinks.metrics import SinkMetrics
from sinks.syslog import SyslogSink
from streams.config import Settings, load_settings
from streams.events import InputLimits, parse_ads_json
from streams.priorities import Priority
from streams.publish import produce_waiting, producer_for
from streams.receivers.mibs import mib_dirs
from streams.receivers.rsyslog import PrivateRsyslog
from streams.receivers.snmptrapd import PrivateSnmptrapd, parse_log
from streams.topics import consumer_from_start, ensure_topics, prefixed_topics
from prometheus_client import CollectorRegistry

GOAL_P99_SECONDS = 0.050

SNMP_EVENT_ID = "ADS-ACTIONS-MIB::adsEventId.0"
STAMP_SCRIPT = """#!/usr/bin/env python3
# Benchmark script: for every JSON event on stdin, its ID and the time it was read.
import json, sys, time
with open(sys.argv[2], "a") as out:
    for line in sys.stdin:
        out.write(f"{json.loads(line)['id']}\\t{time.time()}\\n")
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the latency run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    parser.add_argument("--rate-events", type=int, default=20_000, help="events of the syslog rate run")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up waiting for deliveries after this")
    parser.add_argument("--split-roles", action="store_true",
                        help="latency run: a router worker and a sinks worker (worker.roles) instead of one worker")
    parser.add_argument("--channels", default="syslog,snmp,script",
                        help="latency runs, one per channel (comma-separated subset of syslog,snmp,script; "
                             "a+b: one run delivering to both)")
    parser.add_argument("--fetch-max-wait", default="100ms", help="kafka.fetch_max_wait of the workers (its default)")
    return parser.parse_args()


def event_line(event_id: int) -> bytes:
    return orjson.dumps({"id": event_id, "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
                         "type": "DOS", "typeDesc": "Denial of service attack", "source": "10.0.112.1",
                         "targets": ["192.168.112.2"], "detail": f"Benchmark event {event_id}",
                         "netFlowSource": "Default", "dataFeedId": 1})


def write_config(workdir: Path, bootstrap: str, args: argparse.Namespace, actions: dict, *, prefix: str | None = None,
                 roles: tuple[str, ...] = ("router", "sinks"), **sections: object) -> Path:
    """A configuration of this run's own topics (``prefix``); workers of other roles on the same
    topics have their own app ID (consumer group), as separate deployments would."""
    prefix = prefix or f"bench-sinks-{uuid.uuid4().hex[:8]}"
    app_id = f"{prefix}-{'-'.join(roles)}"
    config = {
        "kafka": {"bootstrap_servers": bootstrap, "app_id": app_id, "partitions": args.partitions, "session_timeout": "6s",
                  "fetch_max_wait": args.fetch_max_wait},
        "topics": prefixed_topics(prefix),
        "metrics": {"port": 0},
        "worker": {"data_dir": str(workdir / app_id), "roles": list(roles)},
        "perspectives": {"all": {"id": 1, "rules": [{"types": ["DOS"], "priority": "CRITICAL"}]}},
        "actions": actions,
        **sections,
    }
    path = workdir / f"{app_id}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(samples: list[float]) -> str:
    return (f"p50 {percentile(samples, 0.5) * 1000:7.1f} ms   p99 {percentile(samples, 0.99) * 1000:7.1f} ms   "
            f"({len(samples):,} deliveries)")


class SnmptrapdTail(threading.Thread):
    """Stamps every notification when its record appears in snmptrapd's log."""

    def __init__(self, log_path: Path):
        super().__init__(daemon=True)
        self.log_path = log_path
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        offset, pending = 0, ""
        while not self.stop.is_set():
            try:
                with self.log_path.open(errors="replace") as log:
                    log.seek(offset)
                    chunk = log.read()
                    offset = log.tell()
            except FileNotFoundError:
                chunk = ""
            if chunk:
                now = time.time()
                pending += chunk
                cut = pending.rfind("\n") + 1
                for notification in parse_log(pending[:cut]):
                    event_id = notification.values.get(SNMP_EVENT_ID)
                    if event_id and event_id.strip('"').isdigit():
                        self.seen.setdefault(int(event_id.strip('"')), now)
                pending = pending[cut:]
            time.sleep(0.001)


def publish_steadily(settings: Settings, first_id: int, count: int, rate: float,
                     line: Callable[[int], bytes] = event_line) -> dict[int, float]:
    """Publish ``count`` events, ``line(event ID)`` each, at ``rate`` events/s; returns event ID ->
    time it was handed to the producer."""
    producer = producer_for(settings, **{"linger.ms": 0})
    published: dict[int, float] = {}
    start = time.monotonic()
    for n in range(count):
        due = start + n / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        event_id = first_id + n
        published[event_id] = time.time()
        produce_waiting(producer, settings.topics.events, line(event_id), str(event_id).encode())
        producer.poll(0)
    producer.flush(30)
    return published


def routing_times(settings: Settings, kind: str, expected: set[int], timeout: float) -> dict[int, float]:
    """Event ID -> Kafka timestamp of its routed message on the kind's topic."""
    topic = getattr(settings.topics.actions, kind)
    consumer = consumer_from_start(settings.kafka.bootstrap_servers, [topic], "bench")
    times: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    try:
        while expected - times.keys() and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                if message.error() is None:
                    event_id = int(message.key().decode().rsplit("|", 1)[1])
                    times.setdefault(event_id, message.timestamp()[1] / 1000)
    finally:
        consumer.close()
    return times


def wait_until(condition, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}", log)
        time.sleep(0.1)


def script_times(path: Path) -> dict[int, float]:
    times: dict[int, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            event_id, stamp = line.split("\t")
            times.setdefault(int(event_id), float(stamp))
    return times


def syslog_times(rsyslog: PrivateRsyslog) -> dict[int, float]:
    times: dict[int, float] = {}
    for record in rsyslog.records():
        if "cn1=" in record.msg:
            event_id = int(record.msg.split("cn1=")[1].split()[0])
            times.setdefault(event_id, datetime.fromisoformat(record.received).timestamp())
    return times


def measure_latency(args: argparse.Namespace, bootstrap: str, workdir: Path, chosen: list[str]) -> None:
    workdir = workdir / f"latency-{'-'.join(chosen)}"
    scripts = workdir / "scripts"
    scripts.mkdir(parents=True)
    (scripts / "stamp.py").write_text(STAMP_SCRIPT)
    (scripts / "stamp.py").chmod(0o755)
    stamps = workdir / "script-stamps.tsv"
    with PrivateRsyslog(workdir / "rsyslog-latency") as rsyslog, \
            PrivateSnmptrapd(workdir / "snmptrapd", mib_dirs()) as snmptrapd:
        tail = SnmptrapdTail(snmptrapd.log_path)
        # channel -> (its action, event ID -> delivery time)
        channels = {
            "syslog": ({"name": "bench-syslog", "perspective": "all", "use_event_id": True,
                        "target": {"host": "127.0.0.1", "port": rsyslog.udp_port, "transport": "udp"}},
                       lambda: syslog_times(rsyslog)),
            "snmp": ({"name": "bench-traps", "perspective": "all", "target_groups": ["bench"]}, lambda: tail.seen),
            "script": ({"name": "bench-script", "perspective": "all", "script": "stamp.py", "input_format": "json",
                        "parameters": [{"name": "--out", "value": str(stamps)}], "concurrency": 2},
                       lambda: script_times(stamps)),
        }
        channels = {name: channels[name] for name in chosen}
        prefix = f"bench-sinks-{uuid.uuid4().hex[:8]}"
        configs = [write_config(workdir, bootstrap, args,
                                {name: [action] for name, (action, _) in channels.items()}, prefix=prefix,
                                roles=roles, scripts={"directory": str(scripts)},
                                snmp={"target_groups": {"bench": [{"address": "127.0.0.1", "port": snmptrapd.port}]}})
                   for roles in ((("router",), ("sinks",)) if args.split_roles else (("router", "sinks"),))]
        settings = load_settings(configs[0])
        ensure_topics(settings)
        tail.start()

        def delivered(events) -> bool:
            return all(events <= times().keys() for _, times in channels.values())

        log = workdir / f"{configs[-1].stem}.log"  # the worker that delivers
        with contextlib.ExitStack() as workers:
            for config in configs:
                workers.enter_context(worker_process(config, workdir / f"{config.stem}.log"))
            # Warm up: the first deliveries pay for connections, engines and the group join.
            warm = publish_steadily(settings, 1, 50, 50).keys()
            wait_until(lambda: delivered(warm), args.timeout, "the warm-up deliveries", log)
            published = publish_steadily(settings, 1_000_000, int(args.rate * args.seconds), args.rate)
            workers_used = "a router and a sinks worker" if args.split_roles else "one worker"
            print(f"published {len(published):,} events at {args.rate:,.0f}/s to {', '.join(channels)} "
                  f"({workers_used})")
            wanted = published.keys()
            try:
                wait_until(lambda: delivered(wanted), args.timeout, "every delivery", log)
            finally:
                print("delivered: " + ", ".join(f"{name} {len(wanted & times().keys()):,}"
                                                for name, (_, times) in channels.items()))
        tail.stop.set()
        routed = routing_times(settings, chosen[0], set(wanted), 60)
        results = {name: times() for name, (_, times) in channels.items()}
    baseline = [max(0.0, routed[i] - published[i]) for i in wanted if i in routed]
    if not baseline:
        fail("no routed message of the published events was read back (routing baseline)")
    print(f"\nEnd-to-end latency at a steady {args.rate:,.0f} events/s, publish to delivery "
          f"(kafka.fetch_max_wait {args.fetch_max_wait}):")
    print(f"  {'routing only (baseline)':24} {describe(baseline)}")
    receivers = {"syslog": "rsyslog received", "snmp": "snmptrapd logged", "script": "its own stamp"}
    for name, times in results.items():
        samples = [max(0.0, times[i] - published[i]) for i in wanted]
        ratio = percentile(samples, 0.99) / percentile(baseline, 0.99)
        verdict = "meets" if percentile(samples, 0.99) < GOAL_P99_SECONDS else "misses"
        goal = f"; {verdict} the p99 < 50 ms goal" if name != "script" else ""
        print(f"  {f'{name} ({receivers[name]})':24} {describe(samples)}   p99 = {ratio:.2f} x routing p99{goal}")


def sink_alone_rate(settings: Settings, lines: list[bytes], rsyslog: PrivateRsyslog) -> float:
    """The SyslogSink without Kafka or Faust: deliveries built in memory, sent in batches of 100."""
    action = settings.actions.syslog[0]
    limits = InputLimits()
    now = datetime.now(timezone.utc)
    deliveries = [Delivery(action.name, "syslog", "all", 1, Priority.CRITICAL, now, parse_ads_json(line, limits),
                           "bench", 0, n, None, b"") for n, line in enumerate(lines)]

    async def deliver_all() -> None:
        sink = SyslogSink(action, settings, SinkMetrics(CollectorRegistry()))
        await sink.start()
        for start in range(0, len(deliveries), 100):
            outcomes = await sink.deliver(deliveries[start:start + 100])
            if any(outcomes):
                raise SystemExit(f"bench: the sink alone failed: {next(o for o in outcomes if o)}")
        await sink.stop()

    asyncio.run(deliver_all())
    return received_rate(rsyslog, len(lines))


def received_rate(rsyslog: PrivateRsyslog, count: int) -> float:
    records = rsyslog.wait_for_records(count, timeout=120)
    if len(records) < count:
        raise SystemExit(f"bench: rsyslog received {len(records)} of {count} messages")
    times = sorted(datetime.fromisoformat(record.received).timestamp() for record in records)
    return (count - 1) / (times[-1] - times[0])


def measure_syslog_rate(args: argparse.Namespace, bootstrap: str, workdir: Path) -> None:
    lines = [event_line(2_000_000 + n) for n in range(args.rate_events)]
    with PrivateRsyslog(workdir / "rsyslog-alone") as rsyslog:
        config = write_config(workdir, bootstrap, args, {
            "syslog": [{"name": "bench-syslog", "perspective": "all", "use_event_id": True,
                        "target": {"host": "127.0.0.1", "port": rsyslog.udp_port, "transport": "udp"}}]})
        alone = sink_alone_rate(load_settings(config), lines, rsyslog)
    with PrivateRsyslog(workdir / "rsyslog-worker") as rsyslog:
        config = write_config(workdir, bootstrap, args, {
            "syslog": [{"name": "bench-syslog", "perspective": "all", "use_event_id": True,
                        "target": {"host": "127.0.0.1", "port": rsyslog.udp_port, "transport": "udp"}}]})
        settings = load_settings(config)
        ensure_topics(settings)
        producer = producer_for(settings)
        for n, line in enumerate(lines):
            produce_waiting(producer, settings.topics.events, line, str(2_000_000 + n).encode())
        producer.flush(60)
        with worker_process(config, workdir / "worker-rate.log"):
            worker = received_rate(rsyslog, len(lines))
    print(f"\nSyslog delivery rate of one worker ({len(lines):,} events published first, UDP to rsyslog):")
    print(f"  sink alone (baseline) {alone:10,.0f} messages/s")
    print(f"  worker                {worker:10,.0f} events/s   = {worker / alone:.2f} x the sink alone")


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="ads-bench-sinks-") as directory:
        workdir = Path(directory)
        print_header()
        with bootstrap_servers(workdir) as (bootstrap, is_embedded):
            print(f"{'broker':10} {broker_description(bootstrap, is_embedded)}")
            for channels in args.channels.split(","):
                measure_latency(args, bootstrap, workdir, channels.split("+"))
            measure_syslog_rate(args, bootstrap, workdir)


if __name__ == "__main__":
    main()
