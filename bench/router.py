"""Router benchmark (``make bench``): events/s of one real worker against a plain confluent-kafka
loop doing the same routing, and routing latency at a steady input rate.

1. Throughput. The same realistic events (streams.generator) are published, keyed by event ID
   with Kafka's murmur2 partitioner, to two fresh sets of topics. A plain confluent-kafka loop
   (the baseline) routes one copy with the same TriggerProcessor the worker uses and a dict for
   deduplication; then an ``ads-actions worker`` process routes the other. Both obey the same
   rule: a batch's routed messages are acknowledged by the broker before its event IDs are marked
   as routed. events/s = input events / time from the first to the last routed message (Kafka
   timestamps of the messages on the action and dead-letter topics), so start-up and the
   consumer-group join are not counted. The worker's output is counted by reading those topics
   (Tansu's high watermark cannot be trusted) and must equal the baseline's on every topic.
2. Latency. A fresh worker, events published at a steady rate (1,000/s by default); latency of a
   routed message = its Kafka timestamp (set when the worker produces it) minus the Kafka
   timestamp of the input message with its event ID (set when the benchmark publishes it).

The broker is the embedded Tansu unless $KAFKA_BOOTSTRAP_SERVERS names a cluster.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Iterator, NoReturn

import confluent_kafka
import yaml
from confluent_kafka import Consumer, Message
from prometheus_client import CollectorRegistry

from streams import broker as embedded
from streams.avro_codec import AvroCodec
from streams.config import ENV_BOOTSTRAP, Settings, load_settings
from streams.demo import WorkerProcess
from streams.generator import generate_events
from streams.metrics import RouterMetrics
from streams.publish import produce_waiting, producer_for, publish_lines
from streams.routing import Router
from streams.topics import consumer_from_start, ensure_topics, prefixed_topics
from streams.triggers import ADS, IDS, InputMessage, TriggerProcessor

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO / "examples" / "actions.yaml"
GOAL_EVENTS_PER_SECOND = 20_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events for the throughput runs")
    parser.add_argument("--seed", type=int, default=1, help="generator seed")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every topic")
    parser.add_argument("--baseline-batch", type=int, default=1000,
                        help="messages the baseline consumes per batch (the worker's default batch size)")
    parser.add_argument("--latency-rate", type=float, default=1000.0, help="events/s of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="length of the latency run")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a run after this many seconds")
    return parser.parse_args()


# ---------------------------------------------------------------- machine and configuration

def machine_description() -> list[tuple[str, str]]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    versions = ", ".join(f"{name} {metadata.version(name)}"
                         for name in ("faust-streaming", "aiokafka", "confluent-kafka", "orjson", "fastavro"))
    return [
        ("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("machine", f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}"),
        ("python", platform.python_version()),
        ("libraries", f"{versions} (librdkafka {confluent_kafka.libversion()[0]})"),
    ]


def broker_description(bootstrap: str, embedded_broker: bool) -> str:
    if not embedded_broker:
        return f"{bootstrap} (from ${ENV_BOOTSTRAP})"
    version = subprocess.run([embedded.tansu_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    return f"embedded {version or 'tansu'} (memory storage) at {bootstrap}"


def write_config(bootstrap: str, workdir: Path, partitions: int, name: str) -> Path:
    """examples/actions.yaml with topics, app ID and data dir of this run's own."""
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    prefix = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    # A short session timeout: Tansu holds a group join for half of it.
    config["kafka"] = {**config["kafka"], "bootstrap_servers": bootstrap, "app_id": prefix,
                       "partitions": partitions, "session_timeout": "6s"}
    config["topics"] = prefixed_topics(prefix)
    config["metrics"] = {"port": 0}
    # The router alone: the sink agents have their own benchmark (bench/delivery.py).
    config["worker"] = {**config.get("worker", {}), "data_dir": str(workdir / prefix), "roles": ["router"]}
    path = workdir / f"{prefix}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def routed_topics(settings: Settings) -> list[str]:
    """Where the router's results end up: the action topics and the dead-letter topic."""
    return [*settings.topics.actions.model_dump().values(), settings.topics.dead_letter]


def publish(settings: Settings, lines: list[bytes], rate: float | None = None) -> int:
    # linger.ms 0: an input message's timestamp (taken at produce()) is when it leaves for the broker.
    counts = publish_lines(settings, lines, rate=rate, producer=producer_for(settings, **{"linger.ms": 0}))
    return counts.ads + counts.ids + counts.unparsed


# ---------------------------------------------------------------- reading and timing results

@dataclass
class RoutedStats:
    """Messages on the routed topics: how many per topic, and the first and last Kafka timestamp."""

    per_topic: Counter = field(default_factory=Counter)
    first_ms: int | None = None
    last_ms: int | None = None

    def add(self, topic: str, timestamp_ms: int) -> None:
        self.per_topic[topic] += 1
        self.first_ms = timestamp_ms if self.first_ms is None else min(self.first_ms, timestamp_ms)
        self.last_ms = timestamp_ms if self.last_ms is None else max(self.last_ms, timestamp_ms)

    @property
    def total(self) -> int:
        return sum(self.per_topic.values())

    def by_role(self) -> Counter:
        """Counts by topic name without the run's prefix (``ads.action.email``...), comparable
        between runs."""
        return Counter({topic.split(".", 1)[1]: count for topic, count in self.per_topic.items()})

    @property
    def seconds(self) -> float:
        return ((self.last_ms or 0) - (self.first_ms or 0)) / 1000


@dataclass
class Throughput:
    label: str
    events: int
    routed: RoutedStats
    cpu_seconds: float  # of the process that routed, from its first routed message to its last

    @property
    def events_per_second(self) -> float:
        return self.events / self.routed.seconds if self.routed.seconds > 0 else float("nan")

    @property
    def cpu_microseconds_per_event(self) -> float:
        return self.cpu_seconds / self.events * 1e6


@contextmanager
def topic_reader(bootstrap: str, topics: list[str]) -> Iterator[Consumer]:
    """A consumer on every partition of the topics from the start (assigned: no group join)."""
    consumer = consumer_from_start(bootstrap, topics, f"bench-reader-{uuid.uuid4().hex[:8]}")
    try:
        yield consumer
    finally:
        consumer.close()


def fetch(consumer: Consumer, timeout: float = 0.5) -> list[Message]:
    return [message for message in consumer.consume(10_000, timeout) if not message.error()]


def kafka_timestamp_ms(message: Message) -> int:
    return message.timestamp()[1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the worker under test

@contextmanager
def worker_process(config: Path, log_path: Path) -> Iterator[subprocess.Popen]:
    """``ads-actions worker -c CONFIG`` (as the demo and the tests start it), stopped on exit."""
    worker = WorkerProcess(str(config), log_path)
    try:
        yield worker.process
    finally:
        worker.stop()


def fail(message: str, log_path: Path | None = None) -> NoReturn:
    tail = f"\n--- {log_path} (end) ---\n{log_path.read_text(errors='replace')[-4000:]}" if log_path else ""
    raise SystemExit(f"bench: {message}{tail}")


def read_routed(bootstrap: str, settings: Settings, expected: int, process: subprocess.Popen,
                log_path: Path, timeout: float, settle: float = 2.0) -> tuple[RoutedStats, float]:
    """Count the worker's routed messages until ``expected`` arrived, then ``settle`` seconds more
    so that any extra (duplicate) message is counted too. Also gives the worker's CPU seconds from
    the first routed message seen to the expected last one."""
    stats = RoutedStats()
    deadline = time.monotonic() + timeout
    cpu_at_first = None
    with topic_reader(bootstrap, routed_topics(settings)) as consumer:
        while stats.total < expected:
            if process.poll() is not None:
                fail(f"the worker exited after routing {stats.total} of {expected} messages", log_path)
            if time.monotonic() > deadline:
                fail(f"the worker routed {stats.total} of {expected} messages in {timeout:.0f}s", log_path)
            for message in fetch(consumer):
                stats.add(message.topic(), kafka_timestamp_ms(message))
            if cpu_at_first is None and stats.total:
                cpu_at_first = process_cpu_seconds(process.pid)
        cpu_seconds = process_cpu_seconds(process.pid) - (cpu_at_first or 0.0)
        settle_until = time.monotonic() + settle
        while time.monotonic() < settle_until:
            for message in fetch(consumer, 0.2):
                stats.add(message.topic(), kafka_timestamp_ms(message))
    return stats, cpu_seconds


def measure_worker(bootstrap: str, config: Path, events: int, expected: int, workdir: Path,
                   timeout: float) -> Throughput:
    settings = load_settings(config)
    log_path = workdir / f"{settings.kafka.app_id}.log"
    with worker_process(config, log_path) as process:
        routed, cpu_seconds = read_routed(bootstrap, settings, expected, process, log_path, timeout)
    return Throughput("worker (ads-actions worker, Faust)", events, routed, cpu_seconds)


# ---------------------------------------------------------------- the baseline

class BaselineRouter:
    """A plain confluent-kafka consume-parse-route-produce loop around the worker's TriggerProcessor,
    with the worker's at-least-once rule: a batch's event IDs are marked as routed (in a dict)
    only once the broker acknowledged every message the batch produced."""

    def __init__(self, settings: Settings, batch_size: int):
        self.settings = settings
        self.batch_size = batch_size
        metrics = RouterMetrics(CollectorRegistry())
        router = Router(settings)
        topics = settings.topics
        ads, ids = (TriggerProcessor(settings, router, metrics, kind) for kind in (ADS, IDS))
        self.processors = {topics.events: ads, topics.events_by_id: ads,
                           topics.ids_events: ids, topics.ids_events_by_id: ids}
        self.routed_ids: dict[TriggerProcessor, dict[str, float]] = {ads: {}, ids: {}}
        self.forward_topics = {topics.events_by_id, topics.ids_events_by_id}
        self.final_topics = set(routed_topics(settings))
        self.stats = RoutedStats()
        self.delivery_errors = 0
        self.processing_seconds = 0.0
        self.forwarded = 0
        self.producer = producer_for(settings, on_delivery=self._delivered)

    def _delivered(self, error: object, message: Message) -> None:
        if error is not None:
            self.delivery_errors += 1
        elif message.topic() in self.final_topics:
            self.stats.add(message.topic(), kafka_timestamp_ms(message))

    def run(self, published: int, timeout: float) -> RoutedStats:
        deadline = time.monotonic() + timeout
        consumed_inputs = consumed_forwards = 0
        with topic_reader(self.settings.kafka.bootstrap_servers, list(self.processors)) as consumer:
            while consumed_inputs < published or consumed_forwards < self.forwarded:
                if time.monotonic() > deadline:
                    fail(f"the baseline consumed {consumed_inputs} of {published} events in {timeout:.0f}s")
                batch = [m for m in consumer.consume(self.batch_size, 0.5) if not m.error()]
                forwards = sum(1 for message in batch if message.topic() in self.forward_topics)
                consumed_forwards += forwards
                consumed_inputs += len(batch) - forwards
                self.route(batch)
        if self.delivery_errors:
            fail(f"the baseline had {self.delivery_errors} failed deliveries")
        return self.stats

    def route(self, batch: list[Message]) -> None:
        by_processor: dict[TriggerProcessor, list[InputMessage]] = {}
        for message in batch:
            by_processor.setdefault(self.processors[message.topic()], []).append(InputMessage(
                message.topic(), message.partition(), message.offset(), message.key(), message.value(),
                kafka_timestamp_ms(message) / 1000))
        for processor, messages in by_processor.items():
            started = time.perf_counter()
            result = processor.process(messages, self.routed_ids[processor])
            self.processing_seconds += time.perf_counter() - started
            for out in result.outgoing:
                produce_waiting(self.producer, out.topic, out.value, out.key, partition=out.partition,
                                headers=out.headers)
                self.forwarded += out.topic in self.forward_topics
            self.producer.flush()
            now = time.time()
            for _, key in result.routed:
                self.routed_ids[processor][key] = now


def measure_baseline(config: Path, events: int, published: int, batch_size: int,
                     timeout: float) -> tuple[Throughput, float]:
    """The baseline's throughput, and the share of its time spent in TriggerProcessor.process."""
    baseline = BaselineRouter(load_settings(config), batch_size)
    cpu_before = time.process_time()  # this process, librdkafka's threads included
    routed = baseline.run(published, timeout)
    result = Throughput("baseline (confluent-kafka loop)", events, routed, time.process_time() - cpu_before)
    return result, baseline.processing_seconds / routed.seconds if routed.seconds else float("nan")


# ---------------------------------------------------------------- latency

@dataclass
class Latency:
    samples: list[float]

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def wait_for_first_routed(bootstrap: str, settings: Settings, process: subprocess.Popen,
                          log_path: Path, timeout: float = 60.0) -> None:
    """The warm-up events are through: the group has joined and the worker routes."""
    read_routed(bootstrap, settings, 1, process, log_path, timeout, settle=0)


def input_timestamps(bootstrap: str, settings: Settings, since_ms: int) -> dict[int, int]:
    """Event ID (the input message key) -> Kafka timestamp of its first message since ``since_ms``."""
    first: dict[int, int] = {}
    with topic_reader(bootstrap, [settings.topics.events, settings.topics.ids_events]) as consumer:
        while batch := fetch(consumer, 1.0):
            for message in batch:
                if message.key() and message.key().isdigit() and kafka_timestamp_ms(message) >= since_ms:
                    first.setdefault(int(message.key()), kafka_timestamp_ms(message))
    return first


def routed_event_times(bootstrap: str, settings: Settings, idle: float = 2.0) -> list[tuple[int, int]]:
    """(event ID, Kafka timestamp) of every routed action message, read until none came for ``idle`` s."""
    codec = AvroCodec("ads_actions.RoutedAction")
    routed = []
    with topic_reader(bootstrap, list(settings.topics.actions.model_dump().values())) as consumer:
        while batch := fetch(consumer, idle):
            for message in batch:
                _, event = codec.decode(message.value())["event"]
                routed.append((event["id"], kafka_timestamp_ms(message)))
    return routed


def measure_latency(bootstrap: str, workdir: Path, partitions: int, rate: float, seconds: float,
                    seed: int) -> Latency:
    config = write_config(bootstrap, workdir, partitions, "latency")
    settings = load_settings(config)
    ensure_topics(settings)
    warmup = 100
    lines = generate_events(warmup + int(rate * seconds), seed=seed + 1)
    log_path = workdir / f"{settings.kafka.app_id}.log"
    with worker_process(config, log_path) as process:
        publish(settings, lines[:warmup])
        wait_for_first_routed(bootstrap, settings, process, log_path)
        steady_since_ms = int(time.time() * 1000)
        publish(settings, lines[warmup:], rate=rate)
        routed = routed_event_times(bootstrap, settings)
    published_at = input_timestamps(bootstrap, settings, steady_since_ms)
    return Latency([(routed_ms - published_at[event_id]) / 1000
                    for event_id, routed_ms in routed if event_id in published_at])


# ---------------------------------------------------------------- report

def print_throughput(worker: Throughput, baseline: Throughput, processing_share: float) -> None:
    print("\nThroughput (events/s = input events / first-to-last routed message):")
    for result in (worker, baseline):
        print(f"  {result.label:36} {result.events_per_second:>7,.0f} events/s  "
              f"{result.cpu_microseconds_per_event:>5,.0f} CPU-us/event  "
              f"({result.events:,} events, {result.routed.total:,} routed messages in {result.routed.seconds:.1f}s)")
    print(f"  ratio worker/baseline {worker.events_per_second / baseline.events_per_second:.2f}; "
          f"goal {GOAL_EVENTS_PER_SECOND:,}/s per worker: "
          f"{'reached' if worker.events_per_second >= GOAL_EVENTS_PER_SECOND else 'NOT reached'}")
    print(f"  the baseline spent {processing_share:.0%} of its time in TriggerProcessor.process "
          "(parsing, validation, routing, Avro encoding)")
    if worker.routed.by_role() != baseline.routed.by_role():
        print(f"  WARNING: the worker's routed messages differ from the baseline's: "
              f"worker {dict(worker.routed.by_role())}, baseline {dict(baseline.routed.by_role())}")


def print_latency(latency: Latency, rate: float) -> None:
    if not latency.samples:
        print(f"\nLatency at {rate:,.0f} events/s: no routed message matched a published event")
        return
    print(f"\nRouting latency at a steady {rate:,.0f} events/s ({len(latency.samples):,} routed messages, "
          "input Kafka timestamp to routed message Kafka timestamp):")
    print(f"  p50 {latency.percentile(0.50) * 1000:.1f} ms   p99 {latency.percentile(0.99) * 1000:.1f} ms   "
          f"max {max(latency.samples) * 1000:.1f} ms")


# ---------------------------------------------------------------- main

@contextmanager
def bootstrap_servers(workdir: Path) -> Iterator[tuple[str, bool]]:
    """(bootstrap, whether it is the embedded broker)."""
    if os.environ.get(ENV_BOOTSTRAP):
        yield os.environ[ENV_BOOTSTRAP], False
    else:
        with embedded.running(log_path=str(workdir / "broker.log")) as bootstrap:
            yield bootstrap, True


def print_header() -> None:
    for name, value in machine_description():
        print(f"{name:10} {value}")
    print(f"{'command':10} {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{'load':10} {os.getloadavg()[0]:.2f} (1-minute load average at the start: other busy processes "
          "on the machine lower every figure)")


def publish_copies(bootstrap: str, workdir: Path, args: argparse.Namespace) -> dict[str, tuple[Path, int]]:
    """The same events on fresh topics for the baseline and for the worker: name -> (config, messages)."""
    started = time.monotonic()
    lines = generate_events(args.events, seed=args.seed)
    print(f"\ngenerated {len(lines):,} events (seed {args.seed}) in {time.monotonic() - started:.0f}s")
    copies = {}
    for name in ("baseline", "worker"):
        config = write_config(bootstrap, workdir, args.partitions, name)
        ensure_topics(load_settings(config))
        copies[name] = config, publish(load_settings(config), lines)
    print("published them twice, to fresh topics for the baseline and for the worker")
    return copies


def run(args: argparse.Namespace, workdir: Path) -> None:
    print_header()
    with bootstrap_servers(workdir) as (bootstrap, is_embedded):
        print(f"{'broker':10} {broker_description(bootstrap, is_embedded)}")
        copies = publish_copies(bootstrap, workdir, args)
        config, published = copies["baseline"]
        baseline, processing_share = measure_baseline(config, args.events, published, args.baseline_batch,
                                                      args.timeout)
        print(f"baseline done: {baseline.events_per_second:,.0f} events/s")
        config, _ = copies["worker"]
        worker = measure_worker(bootstrap, config, args.events, baseline.routed.total, workdir, args.timeout)
        print(f"worker done: {worker.events_per_second:,.0f} events/s")
        print_throughput(worker, baseline, processing_share)
        if not args.skip_latency:
            latency = measure_latency(bootstrap, workdir, args.partitions, args.latency_rate,
                                      args.latency_seconds, args.seed)
            print_latency(latency, args.latency_rate)


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="ads-bench-") as workdir:
        run(args, Path(workdir))


if __name__ == "__main__":
    main()
