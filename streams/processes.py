"""Stopping the programs ads-actions starts (broker, receivers): SIGTERM, then SIGKILL if it does
not exit in time."""

from __future__ import annotations

import subprocess


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
