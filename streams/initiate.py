"""``ads-actions initiate``: run a script action on one event now, like ADS's "Initiate response".

The event (an ADS or IDS event as JSON, told apart as the seed says) is handed to the script
exactly as the worker would hand it, by the same code (sinks.script). The priority is the one the
action's perspective gives the event; the action's min_priority and active flag do not apply (a
manual run is a test). When the perspective gives the event no priority, the script still runs,
with an empty priority field, and a note on stderr says so.

The script's stdout and stderr are copied to ours, and its exit status is ours. When there is
none, the status follows the shell's conventions: 124 timed out (killed), 126 cannot be run
(outside the scripts directory, not executable, refused by the system), 127 not found, 128+N
killed by signal N; 1 for a bad command line, configuration or event.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from sinks.script import ScriptUnavailable, run_action_script
from sinks.script_input import script_line

from .config import ScriptAction, Settings
from .events import (
    AdsEvent,
    IdsEvent,
    InputLimits,
    InvalidEvent,
    ads_event_from_mapping,
    decode_json_object,
    ids_event_from_mapping,
    looks_like_ids,
)
from .routing import Router

EXIT_USAGE = 1
EXIT_TIMED_OUT = 124
EXIT_CANNOT_RUN = 126
EXIT_NOT_FOUND = 127


def _read_event(settings: Settings, event_path: str) -> AdsEvent | IdsEvent:
    limits = InputLimits.from_settings(settings.input)
    data = sys.stdin.buffer.read() if event_path == "-" else Path(event_path).read_bytes()
    obj = decode_json_object(data, limits)
    return (ids_event_from_mapping if looks_like_ids(obj) else ads_event_from_mapping)(obj, limits)


def initiate_response(settings: Settings, action_name: str, event_path: str) -> int:
    """Run the script action ``action_name`` on the event in ``event_path`` ("-": stdin); returns
    the exit status for the command."""
    action = next((a for a in settings.actions.script if a.name == action_name), None)
    if action is None:
        known = ", ".join(a.name for a in settings.actions.script) or "none configured"
        click.echo(f"initiate: no script action named {action_name!r} (script actions: {known})", err=True)
        return EXIT_USAGE
    try:
        event = _read_event(settings, event_path)
    except OSError as exc:
        click.echo(f"initiate: cannot read {event_path}: {exc.strerror or exc}", err=True)
        return EXIT_USAGE
    except InvalidEvent as exc:
        click.echo(f"initiate: {event_path}: invalid event ({exc.reason}): {exc.message}", err=True)
        return EXIT_USAGE
    perspective = next(p for p in Router(settings).perspectives if p.name == action.perspective)
    priority = perspective.priority_of(event)
    if priority is None:
        click.echo(f"initiate: note: perspective {action.perspective!r} gives this event no priority (no rule "
                   "matches), so the worker would not run this action for it; running it with an empty priority",
                   err=True)
    line = script_line(event, action.input_format, action.perspective, priority) + "\n"
    return _run(settings, action, line.encode("utf-8"))


def _run(settings: Settings, action: ScriptAction, stdin: bytes) -> int:
    try:
        run = asyncio.run(run_action_script(action, settings.scripts.directory, stdin, output_limit=None))
    except ScriptUnavailable as exc:
        click.echo(f"initiate: cannot run script action {action.name!r} ({exc.reason}): {exc.detail}", err=True)
        return EXIT_NOT_FOUND if exc.reason == "script_not_found" else EXIT_CANNOT_RUN
    sys.stdout.buffer.write(run.stdout)
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(run.stderr)
    sys.stderr.buffer.flush()
    if run.exit_status is None:
        click.echo(f"initiate: {run.script} did not exit within {action.timeout:g} s (the action's timeout); "
                   "it was killed with every process it started", err=True)
        return EXIT_TIMED_OUT
    return run.exit_status if run.exit_status >= 0 else 128 - run.exit_status
