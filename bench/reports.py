"""Email report benchmark (``make bench``): CRITICAL mail latency, and the memory of a sinks worker
holding one daily period of 1,000,000 events.

1. CRITICAL mail latency. One worker (router and sinks) and a real SMTP server (aiosmtpd, in this
   process, which stamps every mail when its DATA is complete). A DOS event (CRITICAL in the
   example "security" perspective) is published every 0.7 s for ``--seconds``; one report
   (compact format, min_priority CRITICAL) gathers them with the default ``email.immediate_window``
   (5 s) and ``email.close_delay`` (3 s), so a mail lists the several events of its window.
   Latency of an event = when the server received the mail listing it (its ID, found in the body
   of the mail parsed with the ``email`` package) minus when the benchmark handed the event to its
   producer. Split: publish -> routed (the routed message's Kafka timestamp), routed -> end of
   the event's window (from routedAt and the mail's X-ADS-Actions-Period), end of the window ->
   received (close_delay, the 1 s timer tick, rendering and SMTP). The floor is the last two
   without rendering and SMTP: remaining window + close_delay + up to 1 s. Baselines, same run:
   the routing latency of the same events (publish -> routed message's Kafka timestamp), and the
   SMTP send of a rendered mail of the same size alone (connect, send, received), no Kafka.
2. Worker memory. A worker with ``worker.roles: [sinks]`` only (so the router's per-event dedup
   table is not in it) is fed RoutedAction messages for one report with priority LOW (the daily
   period, which does not close during the run) produced straight to ``ads.action.email``, keyed
   as the router keys them. Events are realistic (streams.generator: many types and sources),
   each with a new ID. The worker's RSS (/proc/<pid>/status VmRSS) is read when it is idle after
   start, and once it has added 100,000 and 1,000,000 events to the period (its Prometheus
   counter ``ads_actions_report_events_total``); the peak is VmHWM. Baselines, same run: the idle
   RSS, and the RSS after 100,000 events (by then the period is past ``email.max_rows`` and
   ``email.max_groups``: from there on only counters change). The report store alone (the same
   ReportStore, in this process, traced with tracemalloc) gives the bound per open period.

The broker is the embedded Tansu unless $KAFKA_BOOTSTRAP_SERVERS names a cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import orjson
import yaml
from aiosmtpd.controller import Controller

from delivery import percentile, publish_steadily
from router import (EXAMPLE_CONFIG, bootstrap_servers, broker_description, fail, print_header,
                    process_cpu_seconds)
from sinks.reports.content import content_from_events
from sinks.reports.periods import period_at
from sinks.reports.render import ReportTemplates, render_mails
from sinks.reports.store import PeriodKey, ReportStore
from sinks.smtp_send import SmtpConnection
from streams.avro_codec import AvroCodec, RoutedActionEncoder
from streams.broker import free_port
from streams.config import Settings, load_settings
from streams.demo import DemoError, WorkerProcess
from streams.events import AdsEvent, InputLimits, InvalidEvent, parse_ads_json
from streams.generator import generate_events
from streams.priorities import Priority
from streams.publish import produce_waiting, producer_for
from streams.routing import Route, report_message_key
from streams.topics import consumer_from_start, ensure_topics, prefixed_topics

CRITICAL_REPORT = "bench-critical"
DAILY_REPORT = "bench-daily"
FIRST_LATENCY_ID = 7_000_000
FIRST_MEMORY_ID = 100_000_000
# An event ID at the start of a compact report's row: "<id>  <detected time>  <source>".
ROW_ID = re.compile(r"^(\d+)  \d{4}-\d\d-\d\d", re.MULTILINE)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the latency run")
    parser.add_argument("--interval", type=float, default=0.7, help="seconds between CRITICAL events")
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the memory run")
    parser.add_argument("--checkpoint", type=int, default=100_000,
                        help="memory run: RSS is also read after this many events (the baseline)")
    parser.add_argument("--pool", type=int, default=40_000,
                        help="memory run: distinct generated events, reused with new IDs")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up waiting after this")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    return parser.parse_args()


def write_config(workdir: Path, bootstrap: str, args: argparse.Namespace, name: str, roles: list[str],
                 report: dict, *, smtp_port: int, email: dict | None = None, metrics_port: int = 0) -> Path:
    """The example's filters and perspectives, one email report, this run's own topics and app ID."""
    example = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    prefix = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    config = {
        "kafka": {"bootstrap_servers": bootstrap, "app_id": prefix, "partitions": args.partitions,
                  "session_timeout": "6s"},
        "topics": prefixed_topics(prefix),
        "metrics": {"host": "127.0.0.1", "port": metrics_port},
        "worker": {"data_dir": str(workdir / prefix), "roles": roles},
        "filters": example["filters"],
        "perspectives": example["perspectives"],
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "plain",
                 "from_address": "ads-actions@bench.example.org"},
        "email": {"timezone": "UTC", **(email or {})},
        "actions": {"email": [report]},
    }
    path = workdir / f"{prefix}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def p50_p99(samples: list[float]) -> str:
    return f"p50 {percentile(samples, 0.5) * 1000:7,.0f} ms   p99 {percentile(samples, 0.99) * 1000:7,.0f} ms"


def start_worker(config: Path, log: Path) -> WorkerProcess:
    """``ads-actions worker -c CONFIG`` (as bench/router.py starts it), once it logged that it is
    ready. Its pid is the worker's own: the child runs Python directly."""
    worker = WorkerProcess(str(config), log)
    try:
        worker.wait_ready()
    except DemoError as exc:
        worker.stop()
        fail(f"the worker did not start: {exc}", log)
    return worker


# ---------------------------------------------------------------- 1. CRITICAL mail latency

@dataclass
class ReceivedMail:
    received: float  # time.time() when the server had the whole DATA
    raw: bytes


class StampingHandler:
    """aiosmtpd handler: keeps every mail with the time its DATA was complete."""

    def __init__(self) -> None:
        self.mails: list[ReceivedMail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        received = time.time()
        with self.lock:
            self.mails.append(ReceivedMail(received, envelope.content))
        return "250 Message accepted for delivery"

    def received(self) -> list[ReceivedMail]:
        with self.lock:
            return list(self.mails)


@dataclass
class MailIndex:
    """Event ID -> (receive time, period end) of the first mail listing it; mails per event."""

    times: dict[int, tuple[float, float]] = field(default_factory=dict)
    listings: dict[int, int] = field(default_factory=dict)
    sizes: list[int] = field(default_factory=list)


def index_mails(mails: list[ReceivedMail]) -> MailIndex:
    index = MailIndex()
    for mail in mails:
        message = message_from_bytes(mail.raw, policy=default_policy)
        if message["X-ADS-Actions-Report"] != CRITICAL_REPORT:
            continue
        period_end = datetime.fromisoformat(str(message["X-ADS-Actions-Period"]).split("/")[1]).timestamp()
        body = message.get_body(("plain",)).get_content()
        ids = {int(found) for found in ROW_ID.findall(body)}
        index.sizes.append(len(ids))
        for event_id in ids:
            index.times.setdefault(event_id, (mail.received, period_end))
            index.listings[event_id] = index.listings.get(event_id, 0) + 1
    return index


def dos_event(event_id: int) -> bytes:
    return orjson.dumps({"id": event_id, "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
                         "type": "DOS", "typeDesc": "Denial of service attack",
                         "source": f"10.0.{event_id % 200}.{1 + event_id % 250}",
                         "targets": ["192.168.112.2", "192.168.112.3"],
                         "detail": f"Benchmark event {event_id}: SYN flood, 120000 packets/s",
                         "netFlowSource": "Default", "dataFeedId": 1})


def routed_messages(settings: Settings, expected: set[int], timeout: float = 60.0) -> dict[int, tuple[float, float]]:
    """Event ID -> (Kafka timestamp of its routed message on ads.action.email, its routedAt)."""
    codec = AvroCodec("ads_actions.RoutedAction")
    consumer = consumer_from_start(settings.kafka.bootstrap_servers, [settings.topics.actions.email], "bench")
    routed: dict[int, tuple[float, float]] = {}
    deadline = time.monotonic() + timeout
    try:
        while expected - routed.keys() and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                if message.error() is None:
                    record = codec.decode(message.value())
                    _, event = record["event"]
                    routed.setdefault(event["id"], (message.timestamp()[1] / 1000, record["routedAt"].timestamp()))
    finally:
        consumer.close()
    return routed


def smtp_alone(settings: Settings, port: int, handler: StampingHandler, events_per_mail: int,
               count: int = 20) -> list[float]:
    """Baseline: a compact mail of ``events_per_mail`` DOS events rendered in this process and sent
    over a new SMTP connection, as the emitter does per period; connect -> the server received it."""
    report = settings.actions.email[0]
    limits = InputLimits()
    events = [parse_ads_json(dos_event(9_000_000 + n), limits) for n in range(events_per_mail)]
    period = period_at(datetime.now(timezone.utc), Priority.CRITICAL, "UTC", settings.email)
    templates = ReportTemplates.from_settings(settings)
    samples = []

    async def send_all() -> None:
        for _ in range(count):
            mail = render_mails(content_from_events(report, Priority.CRITICAL, period, events,
                                                    settings.email.max_rows, settings.email.max_groups),
                                settings, templates)[0]
            before = len(handler.received())
            started = time.time()
            async with SmtpConnection(settings.smtp) as smtp:
                await smtp.send(mail)
            while len(handler.received()) == before:
                await asyncio.sleep(0.001)
            samples.append(handler.received()[before].received - started)

    asyncio.run(send_all())
    return samples


def measure_latency(args: argparse.Namespace, bootstrap: str, workdir: Path) -> None:
    handler = StampingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        report = {"name": CRITICAL_REPORT, "perspective": "security", "min_priority": "CRITICAL",
                  "recipients": ["soc@bench.example.org"], "format": "compact"}
        config = write_config(workdir, bootstrap, args, "reports-latency", ["router", "sinks"], report,
                              smtp_port=port)
        settings = load_settings(config)
        ensure_topics(settings)
        log = workdir / f"{config.stem}.log"
        worker = start_worker(config, log)
        process = worker.process
        try:
            # Warm up: the group join, the first mail's SMTP connection and templates.
            warm = publish_steadily(settings, FIRST_LATENCY_ID - 100, 3, 5.0, dos_event)
            deadline = time.monotonic() + 90
            while not warm.keys() <= index_mails(handler.received()).times.keys():
                if process.poll() is not None or time.monotonic() > deadline:
                    fail("the warm-up events' mail did not arrive", log)
                time.sleep(0.2)
            count = max(1, int(args.seconds / args.interval))
            published = publish_steadily(settings, FIRST_LATENCY_ID, count, 1 / args.interval, dos_event)
            print(f"\npublished {count} CRITICAL (DOS) events, one every {args.interval} s "
                  f"({count * args.interval:.0f} s); immediate_window {settings.email.immediate_window:g} s, "
                  f"close_delay {settings.email.close_delay:g} s")
            deadline = time.monotonic() + settings.email.immediate_window + settings.email.close_delay + 60
            while published.keys() - index_mails(handler.received()).times.keys():
                if process.poll() is not None or time.monotonic() > deadline:
                    missing = published.keys() - index_mails(handler.received()).times.keys()
                    fail(f"{len(missing)} of {count} events were in no mail", log)
                time.sleep(0.2)
            time.sleep(2)  # any mail listing an event a second time
            index = index_mails(handler.received())
            routed = routed_messages(settings, set(published))
        finally:
            worker.stop()
        alone = smtp_alone(settings, port, handler, max(1, round(count / max(1, len(index.sizes)))))
    finally:
        controller.stop()

    ids = [i for i in published if i in routed]
    if not ids:
        fail("no routed message of the published events was read back (routing baseline)")
    mailed = [index.times[i][0] - published[i] for i in published]
    routing = [max(0.0, routed[i][0] - published[i]) for i in ids]
    window_left = [index.times[i][1] - routed[i][1] for i in ids]
    after_close = [index.times[i][0] - index.times[i][1] for i in ids]
    overhead = [a - settings.email.close_delay for a in after_close]
    floor = [w + settings.email.close_delay for w in window_left]
    mails = [size for size in index.sizes]
    twice = sum(1 for n in index.listings.values() if n > 1)
    print(f"mails: {len(mails)} for {count} events ({min(mails)}-{max(mails)} events each); "
          f"events in more than one mail: {twice}")
    print("\nCRITICAL mail latency, publish -> mail received by the SMTP server:")
    print(f"  {'routing only (baseline)':34} {p50_p99(routing)}   (publish -> routed message on ads.action.email)")
    print(f"  {'SMTP send alone (baseline)':34} {p50_p99(alone)}   (a rendered mail of "
          f"{max(1, round(count / max(1, len(mails))))} events, new connection, no Kafka)")
    print(f"  {'mail received':34} {p50_p99(mailed)}   max {max(mailed) * 1000:,.0f} ms   "
          f"p50 = {percentile(mailed, 0.5) / percentile(routing, 0.5):.1f} x routing p50, "
          f"p99 = {percentile(mailed, 0.99) / percentile(routing, 0.99):.1f} x routing p99")
    print("  split (per event):")
    print(f"    {'routed -> end of its window':32} {p50_p99(window_left)}   "
          f"(the window is {settings.email.immediate_window:g} s)")
    print(f"    {'end of window -> received':32} {p50_p99(after_close)}   "
          f"(close_delay {settings.email.close_delay:g} s + timer tick up to 1 s + render + SMTP)")
    print(f"    {'  of which beyond close_delay':32} {p50_p99(overhead)}")
    print(f"  floor (remaining window + close_delay, + up to 1 s tick): {p50_p99(floor)}; "
          f"measured - floor: p50 {(percentile(mailed, 0.5) - percentile(floor, 0.5)) * 1000:,.0f} ms")


# ---------------------------------------------------------------- 2. worker memory, one daily period

def zigzag_varint(value: int) -> bytes:
    """An Avro long."""
    number = (value << 1) ^ (value >> 63)
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def skip_varint(data: bytes, offset: int) -> int:
    while data[offset] & 0x80:
        offset += 1
    return offset + 1


def event_pool(size: int, seed: int = 11) -> list[AdsEvent]:
    limits = InputLimits()
    events = []
    for line in generate_events(size, seed=seed, duplicate_ratio=0.0, malformed_ratio=0.0,
                                ids_ratio=0.0, update_ratio=0.0):
        try:
            events.append(parse_ads_json(line, limits))
        except InvalidEvent:
            continue  # IDS events
    return events


class RoutedMessages:
    """RoutedAction messages of the pool's events, each with a new ID: the event body is encoded
    once per pool event; a message is the header, the union branch, the new ID and the rest."""

    def __init__(self, pool: list[AdsEvent], route: Route):
        self.encoder = RoutedActionEncoder()
        self.route = route
        self.tails = []
        for event in pool:
            body = self.encoder.event_body(event)
            self.tails.append(body[skip_varint(body, 1):])  # after the branch byte and the ID

    def message(self, n: int, routed_at: datetime) -> bytes:
        header = self.encoder.encode(self.route, routed_at, b"")
        return header + b"\x00" + zigzag_varint(FIRST_MEMORY_ID + n) + self.tails[n % len(self.tails)]


def produce_routed(settings: Settings, messages: RoutedMessages, start: int, stop: int) -> None:
    producer = producer_for(settings, **{"linger.ms": 20, "batch.num.messages": 10_000,
                                         "queue.buffering.max.messages": 200_000})
    topic = settings.topics.actions.email
    key = report_message_key(DAILY_REPORT, Priority.LOW)
    for n in range(start, stop):
        if n % 1000 == 0:
            routed_at = datetime.now(timezone.utc)  # the router gives a batch one routedAt
        produce_waiting(producer, topic, messages.message(n, routed_at), key)
        if n % 1000 == 0:
            producer.poll(0)
    producer.flush(120)


def rss_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def metric_value(port: int, name: str, labels: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class RssSampler(threading.Thread):
    """The worker's VmRSS every 0.5 s."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                self.peak_kb = max(self.peak_kb, rss_kb(self.pid)["VmRSS"])
            except (FileNotFoundError, KeyError, ProcessLookupError):
                return


def daily_zone() -> str:
    """A zone whose day will not end during the run: UTC unless it is near midnight UTC; then one
    where it is about noon (Etc/GMT+N is UTC-N)."""
    hour = datetime.now(timezone.utc).hour
    if 1 <= hour <= 21:
        return "UTC"
    offset = 12 - hour  # hours 22, 23, 0: -10, -11, +12; local time = UTC + offset, about noon
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def store_bound(settings: Settings, pool: list[AdsEvent], events: int) -> tuple[float, float, int, int, int]:
    """The ReportStore alone, in this process, traced with tracemalloc: bytes per listed row (a
    period of ``max_rows`` copies of one event: rows only, one group), and bytes of a whole period
    after ``events`` events of the pool (rows, group and type counters), with its entries of
    each kind."""
    def traced(events_of_period: list[AdsEvent]) -> tuple[int, ReportStore, PeriodKey]:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        store = ReportStore({}, settings)
        period = period_at(datetime.now(timezone.utc), Priority.LOW, settings.email.timezone, settings.email)
        key = PeriodKey.of(0, DAILY_REPORT, Priority.LOW, period)
        for n, event in enumerate(events_of_period):
            store.add(key, replace(event, id=FIRST_MEMORY_ID + n))
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        return used, store, key

    rows_only, _, _ = traced([pool[0]] * settings.email.max_rows)
    used, store, key = traced([pool[n % len(pool)] for n in range(events)])
    kinds = [entry[len(key.prefix):][:2] for entry in store.periods[key].entries]
    return rows_only / settings.email.max_rows, used, kinds.count("e|"), kinds.count("g|"), kinds.count("t|")


def wait_for_count(port: int, target: int, process, log: Path, timeout: float,
                   milestones: list[tuple[int, int]] | None = None, step: int = 100_000) -> float:
    """Polls the worker's counter until it reaches ``target``; returns when it did. Appends
    (count, VmRSS kB) to ``milestones`` each time the count passes a multiple of ``step``."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            fail(f"the worker exited before adding {target:,} events", log)
        count = metric_value(port, "ads_actions_report_events_total", f'action="{DAILY_REPORT}"')
        if milestones is not None and count // step > (milestones[-1][0] // step if milestones else 0):
            milestones.append((int(count), rss_kb(process.pid)["VmRSS"]))
        if count >= target:
            return time.monotonic()
        if time.monotonic() > deadline:
            fail(f"the worker added {count:,.0f} of {target:,} events in {timeout:.0f} s", log)
        time.sleep(0.25)


def measure_memory(args: argparse.Namespace, bootstrap: str, workdir: Path) -> None:
    zone = daily_zone()
    metrics_port = free_port()
    report = {"name": DAILY_REPORT, "perspective": "security", "min_priority": "LOW",
              "recipients": ["soc@bench.example.org"], "format": "compact"}
    # SMTP: a port nobody listens on; nothing is sent while the day is open.
    config = write_config(workdir, bootstrap, args, "reports-memory", ["sinks"], report, smtp_port=free_port(),
                          email={"timezone": zone}, metrics_port=metrics_port)
    settings = load_settings(config)
    ensure_topics(settings)
    period = period_at(datetime.now(timezone.utc), Priority.LOW, zone, settings.email)
    started = time.monotonic()
    pool = event_pool(args.pool)
    route = Route("email", settings.topics.actions.email, DAILY_REPORT, "security", 1, Priority.LOW)
    messages = RoutedMessages(pool, route)
    print(f"\nmemory run: {len(pool):,} generated ADS events ({len({e.type for e in pool})} types, "
          f"{len({e.source for e in pool}):,} sources, {len({(e.type, e.source) for e in pool}):,} "
          f"(type, source) groups), reused with new IDs ({time.monotonic() - started:.0f} s); "
          f"daily period {period.start:%Y-%m-%d %H:%M} to {period.end:%Y-%m-%d %H:%M} UTC ({zone})")
    row_bytes, store_bytes, rows, groups, types = store_bound(settings, pool, min(args.events, 50_000))
    log = workdir / f"{config.stem}.log"
    worker = start_worker(config, log)
    process = worker.process
    sampler = RssSampler(process.pid)
    try:
        time.sleep(5)
        idle = rss_kb(process.pid)["VmRSS"]
        cpu_idle = process_cpu_seconds(process.pid)
        sampler.start()
        checkpoint = min(args.checkpoint, args.events)
        figures = {}
        phase_started = time.monotonic()
        produce_routed(settings, messages, 0, checkpoint)
        milestones: list[tuple[int, int]] = []
        reached = wait_for_count(metrics_port, checkpoint, process, log, args.timeout)
        figures[checkpoint] = (rss_kb(process.pid)["VmRSS"], reached - phase_started)
        print(f"  {checkpoint:,} events added in {reached - phase_started:.0f} s")
        milestones.append((checkpoint, figures[checkpoint][0]))
        cpu_checkpoint = process_cpu_seconds(process.pid)
        if args.events > checkpoint:
            phase_started = time.monotonic()
            producer = threading.Thread(target=produce_routed, args=(settings, messages, checkpoint, args.events))
            producer.start()
            reached = wait_for_count(metrics_port, args.events, process, log, args.timeout, milestones,
                                     checkpoint)
            producer.join()
            time.sleep(1)
            figures[args.events] = (rss_kb(process.pid)["VmRSS"], reached - phase_started)
            print(f"  {args.events:,} events added ({args.events - checkpoint:,} more in "
                  f"{reached - phase_started:.0f} s)")
        cpu_end = process_cpu_seconds(process.pid)
        hwm = rss_kb(process.pid)["VmHWM"]
        open_events = metric_value(metrics_port, "ads_actions_report_open_events", f'action="{DAILY_REPORT}"')
        unlisted = metric_value(metrics_port, "ads_actions_report_events_unlisted_total", f'action="{DAILY_REPORT}"')
        periods_sent = metric_value(metrics_port, "ads_actions_report_periods_total", f'action="{DAILY_REPORT}"')
    finally:
        sampler.stop.set()
        worker.stop()

    mb = 1 / 1024
    print(f"\nWorker memory, one daily period of one report (worker.roles [sinks]: the router's per-event "
          f"dedup table is not in this process), email.max_rows {settings.email.max_rows:,}, "
          f"email.max_groups {settings.email.max_groups:,}:")
    print(f"  {'idle after start (baseline)':32} {idle * mb:8.1f} MB RSS")
    for count, (rss, _) in figures.items():
        label = f"after {count:,} events" + (" (baseline)" if count == checkpoint and count != args.events else "")
        print(f"  {label:32} {rss * mb:8.1f} MB RSS   +{(rss - idle) * mb:.1f} MB over idle")
    last_rss = figures[max(figures)][0]
    print(f"  {'peak (VmHWM)':32} {hwm * mb:8.1f} MB   (sampled every 0.5 s: {sampler.peak_kb * mb:.1f} MB)")
    if args.events > checkpoint:
        first_rss = figures[checkpoint][0]
        print(f"  after {args.events:,} / after {checkpoint:,}: {last_rss / first_rss:.3f} x RSS, "
              f"growth {(last_rss - first_rss) * mb:+.1f} MB for {args.events - checkpoint:,} more events; "
              f"over idle: {(last_rss - idle) / max(1, first_rss - idle):.2f} x")
    print(f"  worker's own figures at the end: open events {open_events:,.0f}, unlisted {unlisted:,.0f}, "
          f"periods sent {periods_sent:,.0f}")
    group_bytes = (store_bytes - rows * row_bytes) / max(1, groups + types)
    print(f"  report store alone (ReportStore in this process, tracemalloc, {min(args.events, 50_000):,} events): "
          f"{store_bytes / 1e6:.2f} MB for {rows:,} listed rows + {groups:,} (type, source) counters + "
          f"{types} type counters: about {row_bytes:,.0f} bytes per row and {group_bytes:,.0f} per counter; "
          f"bound per open period = max_rows x {row_bytes:,.0f} + (max_groups + types) x {group_bytes:,.0f} bytes")
    print("  RSS by events added: " + ", ".join(f"{count // 1000:,}k {rss * mb:.1f}" for count, rss in milestones)
          + " MB")
    events_after = args.events - checkpoint
    if events_after > 0:
        seconds = figures[args.events][1]
        print(f"  throughput: {events_after / seconds:,.0f} events/s added by the worker over the last "
              f"{events_after:,} (produced meanwhile); {checkpoint / figures[checkpoint][1]:,.0f} events/s "
              f"over the first {checkpoint:,}; worker CPU "
              f"{(cpu_end - cpu_idle) / args.events * 1e6:,.0f} CPU-us/event "
              f"({(cpu_checkpoint - cpu_idle) / checkpoint * 1e6:,.0f} over the first {checkpoint:,})")


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ads-bench-reports-") as directory:
        workdir = Path(directory)
        print_header()
        with bootstrap_servers(workdir) as (bootstrap, is_embedded):
            print(f"{'broker':10} {broker_description(bootstrap, is_embedded)}")
            if not args.skip_latency:
                measure_latency(args, bootstrap, workdir)
            if not args.skip_memory:
                measure_memory(args, bootstrap, workdir)
    print(f"\nrun time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
