"""``ads-actions demo`` end to end: its own embedded broker, a worker process, generated events.
Run as a subprocess from a scratch directory, so its var/demo/ logs land there."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from streams.generator import expected_counts

pytestmark = pytest.mark.integration

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "actions.yaml"


def demo_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "streams.cli", "demo", "-c", str(EXAMPLE_CONFIG), *options]


def summary_counts(output: str, heading: str) -> dict[str, int]:
    """``heading: name=count name=count`` from the summary, as a dict."""
    line = re.search(rf"^{heading}: (.*)$", output, re.MULTILINE)
    assert line, f"no {heading!r} line in:\n{output}"
    return {name: int(count) for name, count in re.findall(r"([\w-]+)=(\d+)", line.group(1))}


def test_demo_routes_delivers_to_its_receivers_and_dead_letters_the_malformed(tmp_path):
    result = subprocess.run(demo_command("--events", "150", "--rate", "200", "--exit-when-done"),
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    per_perspective = summary_counts(output, "routed messages per perspective")
    assert per_perspective["security"] > 0 and per_perspective["operations"] > 0, output
    dead_letters = int(re.search(r"^dead letters: (\d+)", output, re.MULTILINE).group(1))
    assert dead_letters == expected_counts(150).malformed >= 1
    assert re.search(r"^dead letters: \d+ input, 0 deliveries", output, re.MULTILINE), output
    # Delivered to the demo's own rsyslog, snmptrapd and mail catcher.
    delivered = summary_counts(output, "delivered per action")
    received = summary_counts(output, "received")
    # examples/actions.yaml: siem-cef divides by targets (several messages per event), noc-traps
    # sends one trap per event to one destination, sms-gateway mails its batches through
    # email-report.sh and send-mail.
    assert delivered["siem-cef"] > 0 and received["rsyslog"] >= delivered["siem-cef"], output
    assert delivered["noc-traps"] > 0 and received["snmptrapd"] == delivered["noc-traps"], output
    assert delivered["sms-gateway"] > 0 and received["mail"] >= 1, output
    mails = sorted((tmp_path / "var" / "demo" / "mail").glob("*.eml"))
    assert mails and "Subject: ADS: critical event" in mails[0].read_text()
    assert (tmp_path / "var" / "demo" / "worker.log").read_text().count("[^Worker]: Ready") == 1


def test_sigterm_stops_the_demo_and_its_worker_cleanly(tmp_path):
    demo = subprocess.Popen(demo_command("--events", "5000", "--rate", "50"), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The first progress line is printed once the worker is ready and publishing has begun.
        for line in demo.stdout:
            if line.startswith("published "):
                break
        demo.send_signal(signal.SIGTERM)
        rest = demo.communicate(timeout=120)[0]
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, rest
    assert "summary: published" in rest
    worker_log = (tmp_path / "var" / "demo" / "worker.log").read_text()
    assert "[^Worker]: Stopping..." in worker_log
