"""``ads-actions``: the one command-line entry point."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import click

from .config import ConfigError, Settings, load_settings


def _settings_or_exit(path: str) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(issue.format(exc.file), err=True)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Turn ADS anomaly events from Kafka into actions."""


@main.command()
@click.option("--port", default=9092, show_default=True, help="TCP port on 127.0.0.1")
def broker(port: int) -> None:
    """Run the embedded Kafka-protocol broker (Tansu) in the foreground until Ctrl-C."""
    from . import broker as embedded

    process = embedded.start(port)
    click.echo(f"broker ready on 127.0.0.1:{port} (memory-only storage); Ctrl-C stops it", err=True)

    stop_requested = False

    def forward(signum: int, _frame: object) -> None:
        # Only forward: the main thread is inside process.wait(), which a wait from this handler
        # would deadlock on (subprocess holds a lock around waitpid).
        nonlocal stop_requested
        stop_requested = True
        process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    status = process.wait()
    if stop_requested:
        click.echo("broker stopped", err=True)
        sys.exit(0)
    click.echo(f"broker exited with status {status}", err=True)
    sys.exit(status or 1)


@main.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
def worker(config_path: str) -> None:
    """Run the Faust worker: routing and sink agents (worker.roles chooses)."""
    settings = _settings_or_exit(config_path)
    # Scripts that call back into ads-actions (email-report.sh) find it and this configuration here.
    os.environ.setdefault("ADS_ACTIONS_CONFIG", str(Path(config_path).resolve()))
    program = Path(sys.executable).with_name("ads-actions")
    if program.exists():
        os.environ.setdefault("ADS_ACTIONS", str(program))
    from faust import Worker

    from .app import build_app
    from .metrics import serve
    from .topics import ensure_topics

    ensure_topics(settings)
    serve(settings.metrics.host, settings.metrics.port)
    app = build_app(settings)
    Path(settings.worker.data_dir).mkdir(parents=True, exist_ok=True)
    Worker(app, loglevel=settings.worker.log_level, quiet=True).execute_from_commandline()


@main.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--action", "action", required=True, help="the action whose dead-lettered deliveries to re-drive")
@click.option("--all", "from_beginning", is_flag=True,
              help="every dead letter of the action, also those re-driven before")
@click.option("--dry-run", is_flag=True, help="count what would be re-driven, change nothing")
def redrive(config_path: str, action: str, from_beginning: bool, dry_run: bool) -> None:
    """Send an action's dead-lettered deliveries back to its topic, to be delivered again (an email
    report's dead-lettered mails: sent again through the smtp settings)."""
    from sinks.smtp_send import MailNotSent

    from .redrive import redrive as redrive_action

    settings = _settings_or_exit(config_path)
    try:
        result = redrive_action(settings, action, from_beginning=from_beginning, dry_run=dry_run)
    except ValueError as exc:
        click.echo(f"{config_path}: {exc}", err=True)
        sys.exit(1)
    except MailNotSent as exc:
        click.echo(f"{action}: nothing re-driven, the mails were not sent: {exc.detail}", err=True)
        sys.exit(1)
    verb = "would re-drive" if dry_run else "re-drove"
    reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(result.redriven.items()))
    click.echo(f"{action}: {verb} {result.total} dead-lettered deliveries"
               f"{f' ({reasons})' if reasons else ''}, of {result.examined} dead letters read")
    if result.truncated_mails:
        click.echo(f"{action}: {result.truncated_mails} dead-lettered mails were cut to the dead-letter size "
                   "limit and are not sent again; render them anew with render-report", err=True)


@main.command("check-config")
@click.argument("config_path", type=click.Path(dir_okay=False))
def check_config(config_path: str) -> None:
    """Validate a configuration file; every problem is printed as FILE: path: expected, found."""
    from .capture_agent.config_file import offset_beyond_ttl_notes
    from .event_types import EVENT_TYPE_NAMES, IDS_EVENT_TYPE

    settings = _settings_or_exit(config_path)
    # Not an error (a newer ADS may add detection methods), but a typo here silently never matches.
    for name, perspective in settings.perspectives.items():
        for position, rule in enumerate(perspective.rules):
            for event_type in rule.types:
                if event_type not in EVENT_TYPE_NAMES and event_type != IDS_EVENT_TYPE:
                    click.echo(f"{config_path}: perspectives.{name}.rules.{position}.types: note: {event_type!r} "
                               "is not a detection method ADS 13.0 emits; the rule matches only if ADS sends it",
                               err=True)
    # Not an error either (the seed's GUI only notifies), but such captures miss their earliest packets.
    for path, note in offset_beyond_ttl_notes(settings):
        click.echo(f"{config_path}: {path}: note: {note}", err=True)
    kinds = settings.actions.by_kind()
    actions = sum(len(v) for v in kinds.values())
    click.echo(f"{config_path}: valid ({len(settings.filters)} filters, {len(settings.perspectives)} "
               f"perspectives, {actions} actions)")


@main.command("capture-agent")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
def capture_agent(config_path: str) -> None:
    """Run a capture agent: ring buffers of capture.interfaces and the capture API on capture.listen."""
    import asyncio
    import logging

    from prometheus_client import REGISTRY

    from .capture_agent.config_file import load_agent_settings
    from .capture_agent.service import run_capture_agent
    from .metrics import serve

    try:
        agent_file = load_agent_settings(config_path)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(issue.format(exc.file), err=True)
        sys.exit(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(agent_file.metrics.host, agent_file.metrics.port)
    asyncio.run(run_capture_agent(agent_file.capture, REGISTRY))


@main.command("route-test")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.argument("event_path", type=click.Path(dir_okay=False, allow_dash=True))
def route_test(config_path: str, as_json: bool, event_path: str) -> None:
    """Show the priority an event gets in every perspective and the actions it would reach."""
    from .events import InvalidEvent, InputLimits, ads_event_from_mapping, decode_json_object, \
        ids_event_from_mapping, looks_like_ids
    from .routing import Router

    settings = _settings_or_exit(config_path)
    data = click.open_file(event_path, "rb").read()
    limits = InputLimits.from_settings(settings.input)
    try:
        obj = decode_json_object(data, limits)
        event = (ids_event_from_mapping if looks_like_ids(obj) else ads_event_from_mapping)(obj, limits)
    except InvalidEvent as exc:
        click.echo(f"{event_path}: invalid event ({exc.reason}): {exc.message}", err=True)
        sys.exit(1)
    router = Router(settings)
    priorities = router.priorities(event)
    routes = router.routes(event, priorities)
    result = {name: {"priority": priority.name if priority else None,
                     "actions": [r.action for r in routes if r.perspective == name]}
              for name, priority in priorities.items()}
    if as_json:
        click.echo(json.dumps({"perspectives": result}, indent=2))
        return
    kinds = {r.action: r.kind for r in routes}
    click.echo(f"event {event.id} ({event.type}, source {event.source_ip}):")
    for name, outcome in result.items():
        if outcome["priority"] is None:
            click.echo(f"  {name}: no rule matches")
            continue
        reached = ", ".join(f"{a} ({kinds[a]})" for a in outcome["actions"]) or "no action (none active at this priority)"
        click.echo(f"  {name}: {outcome['priority']} -> {reached}")
    if event.is_update:
        click.echo("  note: this is an event update; the worker skips updates")


@main.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--rate", type=float, default=None, help="events per second (default: as fast as possible)")
@click.argument("events_path", type=click.Path(dir_okay=False, allow_dash=True))
def publish(config_path: str, rate: float | None, events_path: str) -> None:
    """Publish events (one JSON object a line, ADS or IDS) to the input topics."""
    from rich.progress import Progress

    from .publish import publish_lines

    settings = _settings_or_exit(config_path)
    with click.open_file(events_path, "rb") as handle:
        lines = handle.readlines()
    with Progress(disable=not sys.stderr.isatty(), console=None, transient=False) as progress:
        task = progress.add_task("publishing", total=len(lines))
        counts = publish_lines(settings, lines, rate=rate, on_sent=lambda: progress.advance(task))
    click.echo(f"published {counts.ads} ADS and {counts.ids} IDS events"
               + (f", and {counts.unparsed} lines that are not JSON objects" if counts.unparsed else "")
               + f" to {settings.kafka.bootstrap_servers}", err=True)


@main.command()
@click.option("-c", "--config", "config_path", default="examples/actions.yaml", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--events", "event_count", default=2000, show_default=True, type=click.IntRange(min=1),
              help="events to publish")
@click.option("--rate", default=50.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="events per second")
@click.option("--seed", default=0, show_default=True, help="seed of the event generator (same seed, same events)")
@click.option("--exit-when-done", is_flag=True, help="stop once every event was processed (for scripts)")
def demo(config_path: str, event_count: int, rate: float, seed: int, exit_when_done: bool) -> None:
    """Start the embedded broker and a worker, publish realistic events and show where they go."""
    from .demo import run_demo

    sys.exit(run_demo(config_path, event_count=event_count, rate=rate, exit_when_done=exit_when_done,
                      seed=seed))


@main.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--script", "action_name", required=True, help="name of a script action in the configuration")
@click.argument("event_path", type=click.Path(dir_okay=False, allow_dash=True))
def initiate(config_path: str, action_name: str, event_path: str) -> None:
    """Run a script action on one ADS or IDS event (JSON) now, as ADS's "Initiate response" does:
    prints the script's output and exits with its status (124: timed out)."""
    from .initiate import initiate_response

    sys.exit(initiate_response(_settings_or_exit(config_path), action_name, event_path))


@main.command("render-report")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--report", "report_name", required=True, help="name of an email report in the configuration")
@click.option("--priority", type=click.Choice(["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATION"],
                                              case_sensitive=False),
              help="render this priority's mail only (even without events); default: every priority with events")
@click.option("--raw", is_flag=True, help="print each mail as sent (MIME source), not decoded")
@click.argument("events_path", type=click.Path(dir_okay=False, allow_dash=True))
def render_report(config_path: str, report_name: str, priority: str | None, raw: bool, events_path: str) -> None:
    """Print the mails (headers and every part) an email report would send for the events in a file
    (one JSON object a line): a preview of its format, templates and links."""
    from .priorities import Priority
    from .render_report import render_report_command

    settings = _settings_or_exit(config_path)
    with click.open_file(events_path, "rb") as handle:
        data = handle.read()
    sys.exit(render_report_command(settings, report_name, data, Priority.parse(priority) if priority else None,
                                   raw))


@main.command("send-mail")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--to", "recipients", multiple=True, required=True, help="recipient address; repeat for more")
@click.option("--subject", required=True)
@click.option("--body", default="", help="text before what arrives on stdin")
def send_mail(config_path: str, recipients: tuple[str, ...], subject: str, body: str) -> None:
    """Send one plain-text mail through the configured SMTP server: --body, then stdin (the
    events) unless stdin is a terminal."""
    from .send_mail import send_mail_command

    stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer  # None: fd 0 is closed
    sys.exit(send_mail_command(_settings_or_exit(config_path), list(recipients), subject, body, stdin))


# `python -m streams.cli` (the demo and the tests start workers this way).
if __name__ == "__main__":
    main()
