"""Custom script actions: run an administrator's executable with the events on its stdin.

A script is looked up in ``scripts.directory`` only (its real path must stay inside it: no
symlink out, no other kind of file, executable), run without a shell as
``SCRIPT NAME_1 VALUE_1 NAME_2 VALUE_2 ...`` with only the action's allow-listed environment
variables, in a new session so that a timeout can kill it together with everything it started.
It runs in the worker's working directory, which is also what a relative ``scripts.directory``
is relative to.

``run_action_script`` is the one way a script is run: the sink uses it for deliveries and
``ads-actions initiate`` for a manual run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.config import ScriptAction, Settings
from streams.processes import kill_group

from .base import Delivery, DeliveryFailed, Outcome, Sink
from .metrics import SinkMetrics
from .script_input import script_line, tsv_field

log = logging.getLogger("ads_actions.sinks.script")

# Output kept for logs and failure details; the rest is read (so the script never blocks on a
# full pipe) and dropped.
LOGGED_OUTPUT_BYTES = 1024
FAILURE_DETAIL_CHARS = 200
_READ_CHUNK = 64 * 1024


class ScriptUnavailable(Exception):
    """The script cannot be run at all: missing, outside the directory, not executable, or the
    system refused to start it. ``reason`` is a DeliveryFailed reason code."""

    def __init__(self, reason: str, detail: str, *, permanent: bool):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.permanent = permanent


@dataclass(frozen=True)
class ScriptRun:
    """One finished run. ``exit_status`` is None when the run timed out (and was killed); a
    negative one is the signal that killed the script. Output is whole or its first bytes, as
    asked for."""

    script: Path
    exit_status: int | None
    duration: float
    stdout: bytes
    stderr: bytes

    @property
    def timed_out(self) -> bool:
        return self.exit_status is None

    @property
    def status_text(self) -> str:
        """``exit 3``, ``killed by SIGSEGV`` or ``timed out``."""
        if self.exit_status is None:
            return "timed out"
        if self.exit_status >= 0:
            return f"exit {self.exit_status}"
        try:
            return f"killed by {signal.Signals(-self.exit_status).name}"
        except ValueError:  # a real-time signal has no name
            return f"killed by signal {-self.exit_status}"


def resolve_script(directory: str | os.PathLike[str], name: str) -> Path:
    """The real path of script ``name`` in ``directory``; raises ScriptUnavailable otherwise.

    A relative directory is relative to the working directory. The real path is what runs, so a
    symlink swapped after this check cannot redirect the run outside the directory."""
    root = Path(os.path.realpath(directory))
    script = Path(os.path.realpath(root / name))
    if os.path.commonpath([root, script]) != str(root):
        raise ScriptUnavailable("script_outside_directory",
                                f"{name!r} leads to {script}, outside {root}", permanent=True)
    try:
        mode = script.stat().st_mode
    except OSError as exc:  # missing (or a dangling symlink), or a directory we may not search
        raise ScriptUnavailable("script_not_found", f"no script {name!r} in {root}: {exc.strerror}",
                                permanent=True) from None
    if not stat.S_ISREG(mode):
        raise ScriptUnavailable("script_not_executable", f"{script} is not a regular file", permanent=True)
    if not os.access(script, os.X_OK):
        raise ScriptUnavailable("script_not_executable", f"{script} is not executable", permanent=True)
    return script


def script_argv(script: Path, action: ScriptAction) -> list[str]:
    """``SCRIPT NAME_1 VALUE_1 ...``, the parameters in the configured order."""
    argv = [str(script)]
    for parameter in action.parameters:
        argv += [parameter.name, parameter.value]
    return argv


def script_environment(action: ScriptAction) -> dict[str, str]:
    """Only the allow-listed variables the worker itself has."""
    return {name: os.environ[name] for name in action.environment if name in os.environ}


class _Output:
    """Reads a pipe to its end, keeping at most ``limit`` bytes (all when None)."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.kept = bytearray()

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(_READ_CHUNK):
            room = len(chunk) if self.limit is None else self.limit - len(self.kept)
            self.kept += chunk[:max(room, 0)]


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # a script need not read its input
    finally:
        stdin.close()  # end of input: a script reading to the end may finish


async def run_action_script(action: ScriptAction, directory: str | os.PathLike[str], stdin: bytes,
                            output_limit: int | None) -> ScriptRun:
    """Run the action's script once with ``stdin``; raises ScriptUnavailable when it cannot start.

    stdin is written while stdout and stderr are read, so that a script writing much before
    reading cannot deadlock against us. On timeout, or if the caller is cancelled, the process
    group is killed."""
    script = resolve_script(directory, action.script)
    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            *script_argv(script, action), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=script_environment(action), start_new_session=True)
    except OSError as exc:  # a bad interpreter line (ENOEXEC, ENOENT), ETXTBSY while being uploaded...
        raise ScriptUnavailable("start_error", f"{script}: {exc.strerror or exc}", permanent=False) from None
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    stdout, stderr = _Output(output_limit), _Output(output_limit)
    exit_status: int | None = None
    try:
        async with asyncio.timeout(action.timeout):
            # Output is read to its end: a child that keeps the pipes open keeps the run going.
            await asyncio.gather(_feed(process.stdin, stdin), stdout.drain(process.stdout),
                                 stderr.drain(process.stderr))
            exit_status = await process.wait()
    except TimeoutError:
        pass
    finally:
        if exit_status is None:
            await kill_group(process)
    return ScriptRun(script, exit_status, time.monotonic() - started, bytes(stdout.kept), bytes(stderr.kept))


def _preview(output: bytes) -> str:
    return output.decode("utf-8", errors="replace")


class ScriptSink(Sink):
    """Runs the action's script once per batch, with one stdin line per delivery."""

    kind = "script"
    action_type = ScriptAction
    action: ScriptAction

    def __init__(self, action: ScriptAction, settings: Settings, metrics: SinkMetrics):
        super().__init__(action, settings, metrics)
        # The pipeline calls deliver at most `concurrency` times at once; this holds the limit for
        # the action as a whole, however many callers there are.
        self._runs = asyncio.Semaphore(action.concurrency)

    @property
    def max_batch(self) -> int:
        return self.action.batch_size

    @property
    def concurrency(self) -> int:
        return self.action.concurrency

    async def deliver(self, batch: Sequence[Delivery]) -> list[Outcome]:
        lines = (script_line(d.event, self.action.input_format, d.perspective, d.priority) + "\n" for d in batch)
        stdin = "".join(lines).encode("utf-8")
        async with self._runs:
            try:
                run = await run_action_script(self.action, self.settings.scripts.directory, stdin,
                                              LOGGED_OUTPUT_BYTES)
            except ScriptUnavailable as exc:
                self.metrics.script_runs.labels(self.action.name, "start_error").inc()
                log.error("script action %s: cannot run %s (%s): %s", self.action.name, self.action.script,
                          exc.reason, exc.detail)
                return [DeliveryFailed(exc.reason, exc.detail, permanent=exc.permanent) for _ in batch]
        result = "timeout" if run.timed_out else str(run.exit_status)
        self.metrics.script_runs.labels(self.action.name, result).inc()
        self.metrics.script_duration.labels(self.action.name).observe(run.duration)
        log.log(logging.INFO if run.exit_status == 0 else logging.WARNING,
                "script action %s: %s: %s after %.3f s, %d events; stdout: %r; stderr: %r",
                self.action.name, run.script, run.status_text, run.duration, len(batch),
                _preview(run.stdout), _preview(run.stderr))
        if run.exit_status == 0:
            return [None] * len(batch)
        if run.timed_out:
            reason, detail = "timeout", f"no exit within {self.action.timeout:g} s; its process group was killed"
        else:
            # One line of plain text: the detail becomes a dead-letter header.
            reason, detail = "exit_status", f"{run.status_text}: {tsv_field(_preview(run.stderr)).strip()}"
        return [DeliveryFailed(reason, detail[:FAILURE_DETAIL_CHARS]) for _ in batch]
