"""``ads-actions demo``: the whole pipeline on one machine, watched live.

Starts the embedded broker and a worker process, publishes generated events (streams/generator.py)
and reads back what the worker wrote: routed messages on every action topic and dead letters.
Everything it starts, it stops again, on completion, Ctrl-C, SIGTERM or SIGHUP.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import yaml
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from . import broker as embedded
from .avro_codec import AvroCodec, AvroDecodeError
from .config import ENV_BOOTSTRAP, ENV_METRICS_PORT, ConfigError, Settings, load_settings
from sinks.registry import SINK_CLASSES

from .deadletter import HEADER_REASON, HEADER_STAGE, STAGE_INPUT, headers_dict
from .demo_receivers import DemoReceivers, deliver_to, demo_receivers
from .generator import ExpectedCounts, expected_counts, generate_events
from .priorities import Priority
from .publish import publish_lines
from .topics import consumer_from_start, ensure_topics

DEMO_DIR = Path("var/demo")
READY_LINE = "[^Worker]: Ready"
WORKER_READY_TIMEOUT = 180.0
# After the last event is published, how long the worker may take to account for all of them.
SETTLE_TIMEOUT = 120.0
REFRESH_SECONDS = 0.25
METRICS_SECONDS = 1.0
PLAIN_SUMMARY_SECONDS = 5.0
LATEST_SHOWN = 8
# Tansu holds a consumer group join for half the session timeout; the worker the demo starts uses
# this one, so routing begins seconds after start rather than after half the configured timeout.
DEMO_SESSION_TIMEOUT = "6s"
# Summary reports every minute or few instead of hourly to weekly, so that the demo shows them.
DEMO_REPORT_PERIODS = {"HIGH": "1m", "MEDIUM": "2m", "LOW": "5m", "INFORMATION": "10m"}
ROUTED = AvroCodec("ads_actions.RoutedAction")


class DemoError(RuntimeError):
    pass


@dataclass
class RoutedSample:
    """One event as routed in one perspective: its priority there and the actions it reached."""

    event_id: int
    event_type: str
    source: str
    perspective: str
    priority: str
    actions: list[str]


@dataclass
class Tally:
    """Everything seen so far: published events, the worker's output and its metrics."""

    expected: ExpectedCounts
    published: int = 0
    publishing_done: bool = False
    publishing_error: str = ""
    # (perspective, priority, action) -> routed messages
    routed_messages: Counter = field(default_factory=Counter)
    routed_events: set = field(default_factory=set)
    dead_letters: Counter = field(default_factory=Counter)
    input_dead_letters: int = 0
    # (event record name, event ID, perspective) -> sample, most recently routed last
    latest: OrderedDict = field(default_factory=OrderedDict)
    skipped: Counter = field(default_factory=Counter)
    without_action: int = 0
    consumed: int = 0
    # (kind, action) -> count, from the worker's sink metrics
    delivered: Counter = field(default_factory=Counter)
    failed_tries: Counter = field(default_factory=Counter)
    delivery_dead_letters: Counter = field(default_factory=Counter)
    muted: Counter = field(default_factory=Counter)
    # Events gathered into email report periods, by (kind, action) as the other counters.
    gathered: Counter = field(default_factory=Counter)
    # receiver name -> what it got
    received: dict = field(default_factory=dict)

    def accounted(self) -> int:
        """Published events whose outcome is known: routed, without action, skipped or dead-lettered."""
        return len(self.routed_events) + self.without_action + sum(self.skipped.values()) + self.input_dead_letters

    def per_perspective(self) -> Counter:
        totals: Counter = Counter()
        for (perspective, _, _), count in self.routed_messages.items():
            totals[perspective] += count
        return totals

    def record_routed(self, value: bytes) -> None:
        message = ROUTED.decode(value)
        record_name, event = message["event"]
        is_ids = record_name.endswith("IdsEvent")
        self.routed_events.add((record_name, event["id"]))
        self.routed_messages[(message["perspective"], message["priority"], message["action"])] += 1
        key = (record_name, event["id"], message["perspective"])
        sample = self.latest.pop(key, None) or RoutedSample(
            event["id"], "IDSP" if is_ids else event["type"], event["srcIp"] if is_ids else event["source"],
            message["perspective"], message["priority"], [])
        sample.actions.append(message["action"])
        self.latest[key] = sample
        if len(self.latest) > LATEST_SHOWN:
            self.latest.popitem(last=False)

    def record_dead_letter(self, headers: dict[str, str]) -> None:
        self.dead_letters[headers.get(HEADER_REASON, "unknown")] += 1
        # Sinks dead-letter failed deliveries of routed events too; only input ones end an event.
        if headers.get(HEADER_STAGE) == STAGE_INPUT:
            self.input_dead_letters += 1

    def record_metrics(self, samples: dict[tuple[str, tuple], float]) -> None:
        if not samples:  # endpoint not answering (yet): keep the last values
            return
        self.skipped = Counter({dict(labels)["reason"]: int(value) for (name, labels), value in samples.items()
                                if name == "ads_actions_events_skipped_total"})
        self.without_action = int(samples.get(("ads_actions_events_without_action_total", ()), 0))
        self.consumed = int(sum(value for (name, _), value in samples.items()
                                if name == "ads_actions_events_consumed_total"))
        for counter, name in ((self.delivered, "ads_actions_deliveries_total"),
                              (self.failed_tries, "ads_actions_delivery_failures_total"),
                              (self.delivery_dead_letters, "ads_actions_delivery_dead_letters_total"),
                              (self.muted, "ads_actions_deliveries_muted_total"),
                              (self.gathered, "ads_actions_report_events_total")):
            counter.clear()
            for (sample, labels), value in samples.items():
                if sample == name:
                    counter[(dict(labels).get("kind", "email"), dict(labels)["action"])] += int(value)

    def routed_to(self, actions: set[str]) -> int:
        return sum(count for (_, _, action), count in self.routed_messages.items() if action in actions)

    def deliveries_settled(self) -> int:
        """Routed messages done with: delivered, dead-lettered, muted, or gathered into a report
        period (a report's mails and their dead letters are counted per mail, not per event)."""
        per_event = (self.delivered + self.delivery_dead_letters).items()
        return (sum(count for (kind, _), count in per_event if kind != "email")
                + sum(self.muted.values()) + sum(self.gathered.values()))


class OutputReader:
    """Reads every partition of the action and dead-letter topics from the start."""

    def __init__(self, settings: Settings):
        self.dead_letter_topic = settings.topics.dead_letter
        topics = [*settings.topics.actions.model_dump().values(), self.dead_letter_topic]
        self.consumer = consumer_from_start(settings.kafka.bootstrap_servers, topics, "ads-actions-demo")

    def read_into(self, tally: Tally, seconds: float) -> None:
        for message in self.consumer.consume(num_messages=1000, timeout=seconds):
            if message.error():
                continue
            if message.topic() == self.dead_letter_topic:
                tally.record_dead_letter(headers_dict(message.headers()))
                continue
            try:
                tally.record_routed(message.value())
            except AvroDecodeError:
                tally.dead_letters["undecodable routed message (demo reader)"] += 1

    def close(self) -> None:
        self.consumer.close()


def scrape_metrics(url: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value; empty while the endpoint does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


class WorkerProcess:
    """``ads-actions worker`` as a child in its own process group, output to a log file (the demo
    and the integration tests start workers this way)."""

    def __init__(self, config_path: str, log_path: Path, environment: dict[str, str] | None = None):
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker", "-c", config_path],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, **(environment or {}), "PYTHONUNBUFFERED": "1"})

    def wait_ready(self, stop: threading.Event | None = None) -> bool:
        """True once Faust logs its ready line; False if asked to stop first."""
        stop = stop or threading.Event()
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while not stop.wait(0.2):
            if READY_LINE in self.log_path.read_text(errors="replace"):
                return True
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise DemoError(f"worker did not become ready (see {self.log_path}):\n{tail}")
        return False

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_publishing(settings: Settings, lines: list[bytes], rate: float, tally: Tally,
                     stop: threading.Event) -> threading.Thread:
    def count_one() -> None:
        tally.published += 1

    def publish() -> None:
        remaining = itertools.takewhile(lambda _: not stop.is_set(), lines)
        try:
            publish_lines(settings, remaining, rate=rate, on_sent=count_one)
        except Exception as exc:  # reported by the main loop, which owns the terminal
            tally.publishing_error = f"{exc.__class__.__name__}: {exc}"
        tally.publishing_done = True

    thread = threading.Thread(target=publish, name="demo-publisher", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP (the terminal went away) set ``stop``; the main loop then shuts
    everything down in order."""
    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_demo(config_path: str, *, event_count: int, rate: float, exit_when_done: bool, seed: int = 0) -> int:
    """Run until Ctrl-C/SIGTERM (exit status 0) or, with ``exit_when_done``, until every published
    event is accounted for (0) or SETTLE_TIMEOUT passed after the last one was published (1)."""
    console = Console(soft_wrap=True)
    stop = threading.Event()
    try:
        settings = load_settings(config_path)
        expected = expected_counts(event_count)
    except (ConfigError, ValueError) as exc:
        console.print(f"demo: {exc}", markup=False)
        return 1
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    with stop_on_signals(stop):
        try:
            return _run(console, settings, config_path, Tally(expected),
                        generate_events(event_count, seed=seed), rate, exit_when_done, stop)
        except (DemoError, embedded.BrokerError) as exc:
            console.print(f"demo: {exc}", markup=False)
            return 1


def _run(console: Console, settings: Settings, config_path: str, tally: Tally, lines: list[bytes], rate: float,
         exit_when_done: bool, stop: threading.Event) -> int:
    broker_log, worker_log = DEMO_DIR / "broker.log", DEMO_DIR / "worker.log"
    broker_log.unlink(missing_ok=True)
    with embedded.running(log_path=str(broker_log)) as bootstrap, demo_receivers(DEMO_DIR) as receivers:
        metrics_port = embedded.free_port()
        settings = _with_bootstrap(settings, bootstrap)
        worker_config = _demo_config(config_path, receivers)
        console.print(f"broker: {bootstrap} (embedded, log {broker_log})\n"
                      f"worker: metrics http://127.0.0.1:{metrics_port}/metrics, log {worker_log}, config "
                      f"{worker_config} ({config_path} with kafka.session_timeout {DEMO_SESSION_TIMEOUT}, "
                      "report periods of 1 to 10 minutes instead of 1 hour to 1 week, "
                      "delivering to the receivers below)\n" + "\n".join(receivers.where()) + "\n"
                      f"publishing {len(lines)} events at {rate:g}/s once the worker is ready; Ctrl-C stops",
                      markup=False, highlight=False)
        worker = WorkerProcess(str(worker_config), worker_log,
                               {ENV_BOOTSTRAP: bootstrap, ENV_METRICS_PORT: str(metrics_port)})
        try:
            if not worker.wait_ready(stop):
                return 0
            ensure_topics(settings)
            reader = OutputReader(settings)
            publisher = start_publishing(settings, lines, rate, tally, stop)
            try:
                status = _watch(console, tally, reader, worker, receivers, _sink_actions(settings),
                                f"http://127.0.0.1:{metrics_port}/metrics", exit_when_done, stop,
                                _report_linger(settings))
            finally:
                stop.set()
                publisher.join(70)  # publish_lines flushes for up to 60 s
                reader.close()
        finally:
            worker.stop()
    _print_summary(console, tally)
    return status


def _sink_actions(settings: Settings) -> set[str]:
    """The active actions whose deliveries the demo waits for: those of kinds with a sink, and the
    email reports (until their events are gathered; the mails follow when the periods close)."""
    return {action.name for kind in (*SINK_CLASSES, "email") for action in settings.actions.by_kind()[kind]
            if action.active}


def _report_linger(settings: Settings) -> float:
    """Seconds to keep watching once every event is settled, for the last immediate report mails
    (their window and close delay); 0 without active email reports."""
    if not any(report.active for report in settings.actions.email):
        return 0.0
    return settings.email.immediate_window + settings.email.close_delay + 2 * REFRESH_SECONDS + 1


def _demo_config(config_path: str, receivers: DemoReceivers) -> Path:
    """The given configuration with the demo's session timeout, delivering to the demo's
    receivers, written under DEMO_DIR."""
    config = deliver_to(yaml.safe_load(Path(config_path).read_text(encoding="utf-8")), receivers)
    config["kafka"] = {**(config.get("kafka") or {}), "session_timeout": DEMO_SESSION_TIMEOUT}
    config["email"] = {**(config.get("email") or {}), "periods": DEMO_REPORT_PERIODS}
    path = DEMO_DIR / "config.yaml"
    path.write_text(f"# Generated by ads-actions demo from {config_path}\n"
                    + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _with_bootstrap(settings: Settings, bootstrap: str) -> Settings:
    return settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})})


def _watch(console: Console, tally: Tally, reader: OutputReader, worker: WorkerProcess, receivers: DemoReceivers,
           sink_actions: set[str], metrics_url: str, exit_when_done: bool, stop: threading.Event,
           linger: float) -> int:
    """Reads output and metrics and shows them, live on a terminal, as a line every few seconds
    otherwise; returns the exit status."""
    live = Live(_live_view(tally), console=console, auto_refresh=False) if console.is_terminal else None
    next_metrics = next_plain = time.monotonic()
    settle_deadline = linger_until = None
    with live or contextlib.nullcontext():
        while not stop.is_set():
            _check_running(worker, tally)
            reader.read_into(tally, REFRESH_SECONDS)
            now = time.monotonic()
            if now >= next_metrics:
                tally.record_metrics(scrape_metrics(metrics_url))
                tally.received = receivers.received()
                next_metrics = now + METRICS_SECONDS
            if live:
                live.update(_live_view(tally), refresh=True)
            elif now >= next_plain:
                console.print(_progress_line(tally), markup=False, highlight=False)
                next_plain = now + PLAIN_SUMMARY_SECONDS
            if not exit_when_done or not tally.publishing_done:
                continue
            if tally.accounted() >= tally.published and tally.deliveries_settled() >= tally.routed_to(sink_actions):
                linger_until = linger_until or now + linger
                if now < linger_until:
                    continue
                # An event's other routed messages may sit in partitions not read yet.
                reader.read_into(tally, 1.0)
                tally.record_metrics(scrape_metrics(metrics_url))
                tally.received = receivers.received()
                return _check_expected(console, tally)
            settle_deadline = settle_deadline or now + SETTLE_TIMEOUT
            if now > settle_deadline:
                console.print(f"demo: {tally.accounted()} of {tally.published} published events accounted for, "
                              f"{tally.deliveries_settled()} of {tally.routed_to(sink_actions)} deliveries settled "
                              f"{SETTLE_TIMEOUT:.0f}s after the last was published", markup=False)
                return 1
    return 0


def _check_running(worker: WorkerProcess, tally: Tally) -> None:
    if worker.process.poll() is not None:
        raise DemoError(f"the worker exited with status {worker.process.returncode} (see {worker.log_path})")
    if tally.publishing_error:
        raise DemoError(f"publishing failed: {tally.publishing_error}")


def _check_expected(console: Console, tally: Tally) -> int:
    """Dead letters and skipped events must match what the generator made (1 otherwise)."""
    expected = tally.expected
    seen = {"dead letters": (tally.input_dead_letters, expected.malformed),
            "skipped duplicates": (tally.skipped["duplicate"], expected.duplicates),
            "skipped updates": (tally.skipped["update"], expected.updates)}
    wrong = [f"{name}: {found} (expected {want})" for name, (found, want) in seen.items() if found != want]
    for line in wrong:
        console.print(f"demo: the worker's outcome differs from the generated events: {line}", markup=False)
    return 1 if wrong else 0


def _progress_line(tally: Tally) -> str:
    return (f"published {tally.published}/{tally.expected.total}, routed {len(tally.routed_events)} events "
            f"({sum(tally.routed_messages.values())} messages), without action {tally.without_action}, "
            f"skipped {sum(tally.skipped.values())}, dead letters {sum(tally.dead_letters.values())}, "
            f"accounted {tally.accounted()}/{tally.published}, delivered {sum(tally.delivered.values())}, "
            f"received " + (" ".join(f"{name}={seen.count}" for name, seen in sorted(tally.received.items()))
                            or "nothing"))


def _print_summary(console: Console, tally: Tally) -> None:
    expected = tally.expected
    perspectives = " ".join(f"{name}={count}" for name, count in sorted(tally.per_perspective().items()))
    reasons = " ".join(f"{reason}={count}" for reason, count in sorted(tally.dead_letters.items()))
    skipped = " ".join(f"{reason}={count}" for reason, count in sorted(tally.skipped.items()))
    delivered = " ".join(f"{action}={count}" for (_, action), count in sorted(tally.delivered.items()))
    received = " ".join(f"{name}={seen.count}" for name, seen in sorted(tally.received.items()))
    console.print(
        f"summary: published {tally.published} of {expected.total} generated events ({expected.triggers} "
        f"ADS triggers, {expected.ids} IDS, {expected.duplicates} re-sent, {expected.updates} updates, "
        f"{expected.malformed} malformed)\n"
        f"routed events: {len(tally.routed_events)} as {sum(tally.routed_messages.values())} messages\n"
        f"routed messages per perspective: {perspectives or 'none'}\n"
        f"events without action: {tally.without_action}\n"
        f"skipped: {sum(tally.skipped.values())} ({skipped or 'none'})\n"
        f"dead letters: {tally.input_dead_letters} input, "
        f"{sum(tally.dead_letters.values()) - tally.input_dead_letters} deliveries ({reasons or 'none'})\n"
        f"delivered per action: {delivered or 'none'}\n"
        f"received: {received or 'nothing'}",
        markup=False, highlight=False)


_PRIORITY_STYLE = {"CRITICAL": "bold red", "HIGH": "red", "MEDIUM": "yellow", "LOW": "cyan", "INFORMATION": "dim"}


def _routed_row_order(item: tuple[tuple[str, str, str], int]) -> tuple[str, int, str]:
    """By perspective, the most urgent priority first, then by action."""
    (perspective, priority, action), _ = item
    return perspective, -Priority[priority].value if priority in Priority.__members__ else 0, action


def _live_view(tally: Tally) -> Group:
    return Group(_totals_table(tally), _routed_table(tally), _deliveries_table(tally), _dead_letter_table(tally),
                 _latest_table(tally), _received_table(tally))


def _deliveries_table(tally: Tally) -> Table:
    table = Table(title="Deliveries per action (worker metrics)", title_justify="left")
    for column in ("kind", "action"):
        table.add_column(column)
    for column in ("delivered", "failed tries", "dead-lettered", "muted"):
        table.add_column(column, justify="right")
    keys = sorted(set(tally.delivered) | set(tally.failed_tries) | set(tally.delivery_dead_letters) | set(tally.muted))
    for key in keys:
        table.add_row(*key, str(tally.delivered[key]), str(tally.failed_tries[key]),
                      str(tally.delivery_dead_letters[key]), str(tally.muted[key]))
    return table


def _received_table(tally: Tally) -> Table:
    table = Table(title="Received by the demo's receivers (latest last)", title_justify="left")
    table.add_column("receiver")
    table.add_column("count", justify="right")
    table.add_column("latest")
    for name, seen in sorted(tally.received.items()):
        table.add_row(name, str(seen.count), Text("\n".join(line[:160] for line in seen.latest)))
    return table


def _totals_table(tally: Tally) -> Table:
    table = Table(title="Events", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [("published", f"{tally.published} / {tally.expected.total}"),
            ("read by the worker", str(tally.consumed)),
            ("routed (events / messages)", f"{len(tally.routed_events)} / {sum(tally.routed_messages.values())}"),
            ("without action", str(tally.without_action)),
            ("skipped (updates, re-sent)", f"{tally.skipped['update']}, {tally.skipped['duplicate']}"),
            ("dead letters", str(sum(tally.dead_letters.values()))),
            ("accounted for", f"{tally.accounted()} / {tally.published}")]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _routed_table(tally: Tally) -> Table:
    table = Table(title="Routed messages per perspective, priority and action", title_justify="left")
    for column in ("perspective", "priority", "action"):
        table.add_column(column)
    table.add_column("messages", justify="right")
    for (perspective, priority, action), count in sorted(tally.routed_messages.items(), key=_routed_row_order):
        table.add_row(perspective, Text(priority, style=_PRIORITY_STYLE.get(priority, "")), action, str(count))
    for perspective, count in sorted(tally.per_perspective().items()):
        table.add_row(Text(perspective, style="bold"), "", Text("all", style="bold"), Text(str(count), style="bold"))
    return table


def _dead_letter_table(tally: Tally) -> Table:
    table = Table(title="Dead letters by reason", title_justify="left")
    table.add_column("reason")
    table.add_column("messages", justify="right")
    for reason, count in sorted(tally.dead_letters.items()):
        table.add_row(reason, str(count))
    return table


def _latest_table(tally: Tally) -> Table:
    table = Table(title="Latest routed", title_justify="left")
    for column in ("id", "type", "source", "perspective", "priority", "actions"):
        table.add_column(column)
    for sample in reversed(tally.latest.values()):
        table.add_row(str(sample.event_id), sample.event_type, sample.source, sample.perspective,
                      Text(sample.priority, style=_PRIORITY_STYLE.get(sample.priority, "")),
                      ", ".join(sorted(sample.actions)))
    return table
