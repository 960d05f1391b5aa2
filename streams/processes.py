"""Stopping the programs ads-actions starts: SIGTERM, then SIGKILL if they do not exit in time.
``terminate`` for one process (broker, receivers), ``kill_group`` for a process started in a
session of its own and everything it started (scripts, capture tools)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

# Between SIGTERM to a process group and SIGKILL.
TERMINATION_GRACE_SECONDS = 2.0


def terminate(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """The exit status; a process that already exited is only reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        pass  # the whole group has exited already


async def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group of ``process`` (a session leader), then SIGKILL it: whatever it
    started, and whatever ignored SIGTERM, must not outlive it, also when ``process`` itself has
    exited already. dumpcap writes its last packets on SIGTERM."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(TERMINATION_GRACE_SECONDS):
            await process.wait()
    except TimeoutError:
        pass
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()
