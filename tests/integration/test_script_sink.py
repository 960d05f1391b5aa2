"""ScriptSink with real scripts and real processes: what a script receives (argv, stdin, environment),
batches, failures, timeouts that leave no process behind, refusals, isolation and concurrency.

No test asserts how long anything took; waits poll with generous deadlines."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from sinks.base import Delivery, DeliveryFailed
from sinks.metrics import SinkMetrics
from sinks.pipeline import ActionPipeline, Pending
from sinks.script import LOGGED_OUTPUT_BYTES, ScriptSink, run_action_script
from sinks.script_input import script_line
from streams.config import ScriptAction, Settings
from streams.events import InputLimits, ads_event_from_mapping, ids_event_from_mapping
from streams.priorities import Priority
from tests.conftest import REPO
from tests.integration.script_processes import process_gone, wait_until

LIMITS = InputLimits()

# Writes its argv (NUL-separated, $0 first), its stdin and its initial environment (as the kernel
# has it: /proc/$$/environ, so nothing bash adds) to files named after its pid in $RECORD_DIR.
RECORDING_BASH = """#!/bin/bash
out={record}/run.$$
printf '%s\\0' "$0" "$@" > "$out.argv"
/bin/cat > "$out.stdin"
/bin/cat /proc/$$/environ > "$out.env"
echo "recorded $# arguments"
"""

RECORDING_PYTHON = """#!{python}
import json, os, sys
out = "{record}/run.%d" % os.getpid()
open(out + ".argv", "w").write(json.dumps(sys.argv))
open(out + ".stdin", "wb").write(sys.stdin.buffer.read())
open(out + ".env", "wb").write(open("/proc/self/environ", "rb").read())
"""


def ads_event(event_id: int = 5102360, **changes):
    return ads_event_from_mapping({
        "id": event_id, "timestamp": "2025-11-03 15:11:01", "firstFlow": "2025-11-03 15:09:55", "type": "SCANS",
        "detail": "TCP SYN scan,\t1200 ports\nscanned", "protocol": "TCP", "source": "10.1.4.20",
        "targets": ["192.168.112.2", "192.168.112.3"], "netFlowSource": "Default", **changes}, LIMITS)


def ids_event(event_id: int = 123456):
    return ids_event_from_mapping({
        "id": event_id, "firstSeen": "2025-05-15 06:45:56", "lastSeen": "2025-05-15 06:45:56",
        "srcIp": "10.20.20.20", "srcPort": 65432, "dstIp": "10.10.10.10", "dstPort": 53, "protocol": "UDP",
        "signatureId": 2027865, "signatureName": "ET INFO Observed DNS Query to .cloud TLD",
        "category": "Potentially Bad Traffic", "severity": "2"}, LIMITS)


def delivery(event, action: str = "run", priority: Priority = Priority.HIGH) -> Delivery:
    return Delivery(action=action, kind="script", perspective="security", perspective_id=1, priority=priority,
                    routed_at=datetime.now(UTC), event=event, topic="ads.action.script", partition=0,
                    offset=event.id, key=None, value=b"")


def settings_with(directory: Path, *actions: dict) -> Settings:
    return Settings.model_validate({
        "perspectives": {"security": {"id": 1, "rules": [{"types": ["SCANS", "IDSP"], "priority": "HIGH"}]}},
        "scripts": {"directory": str(directory)},
        "actions": {"script": [{"perspective": "security", **action} for action in actions]},
    })


def write_script(path: Path, text: str, executable: bool = True) -> Path:
    path.write_text(text)
    path.chmod(0o755 if executable else 0o644)
    return path


class Harness:
    """Script directory, record directory, metrics registry, and sinks for one test."""

    def __init__(self, tmp_path: Path):
        self.scripts = tmp_path / "scripts"
        self.record = tmp_path / "record"
        self.scripts.mkdir()
        self.record.mkdir()
        self.registry = CollectorRegistry()
        self.metrics = SinkMetrics(self.registry)

    def script(self, name: str, template: str, executable: bool = True) -> Path:
        return write_script(self.scripts / name, template.format(record=self.record, python=sys.executable),
                            executable)

    def sinks(self, *actions: dict) -> list[ScriptSink]:
        settings = settings_with(self.scripts, *actions)
        return [ScriptSink(action, settings, self.metrics) for action in settings.actions.script]

    def sink(self, **action) -> ScriptSink:
        return self.sinks({"name": "run", **action})[0]

    def runs(self) -> list[dict]:
        """What each run recorded, in the order the runs started (pids are not ordered: by file time)."""
        argv_files = sorted(self.record.glob("run.*.argv"), key=lambda p: p.stat().st_mtime_ns)
        runs = []
        for argv_file in argv_files:
            base = str(argv_file)[:-len(".argv")]
            text = argv_file.read_text()
            argv = json.loads(text) if text.startswith("[") else text.split("\0")[:-1]
            environ = Path(base + ".env").read_bytes().split(b"\0")
            runs.append({"argv": argv, "stdin": Path(base + ".stdin").read_bytes(),
                         "env": dict(item.decode().split("=", 1) for item in environ if item)})
        return runs

    def runs_counted(self, action: str, result: str) -> float:
        return self.registry.get_sample_value("ads_actions_script_runs_total",
                                              {"action": action, "result": result}) or 0.0


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def expected_stdin(deliveries: list[Delivery], input_format: str) -> bytes:
    return b"".join((script_line(d.event, input_format, d.perspective, d.priority) + "\n").encode()
                    for d in deliveries)


PARAMETERS = [{"name": "--address", "value": "soc@example.org"},
              {"name": "subject", "value": "two words; $(touch /tmp/pwned) `id` 'quoted' \"too\""},
              {"name": "EMPTY_1", "value": ""}]
EXPECTED_ARGS = ["--address", "soc@example.org", "subject",
                 "two words; $(touch /tmp/pwned) `id` 'quoted' \"too\"", "EMPTY_1", ""]


def test_bash_script_gets_argv_pairs_in_order_and_stdin_lines_byte_for_byte(harness: Harness):
    script = harness.script("record.sh", RECORDING_BASH)
    sink = harness.sink(script="record.sh", parameters=PARAMETERS, input_format="tsv-extended")
    batch = [delivery(ads_event(1)), delivery(ids_event(2)), delivery(ads_event(3), priority=Priority.CRITICAL)]
    outcomes = asyncio.run(sink.deliver(batch))
    assert outcomes == [None, None, None]
    [run] = harness.runs()
    assert run["argv"] == [str(script.resolve()), *EXPECTED_ARGS]
    assert run["stdin"] == expected_stdin(batch, "tsv-extended")
    lines = run["stdin"].decode().splitlines()
    assert [len(line.split("\t")) for line in lines] == [17, 14, 17]  # IDS events in the IDS format
    assert lines[0].split("\t")[8:10] == ["HIGH", "TCP SYN scan, 1200 ports scanned"]
    assert harness.runs_counted("run", "0") == 1


def test_python_script_gets_json_lines(harness: Harness):
    harness.script("record.py", RECORDING_PYTHON)
    sink = harness.sink(script="record.py", parameters=PARAMETERS, input_format="json")
    batch = [delivery(ads_event(1)), delivery(ids_event(2))]
    assert asyncio.run(sink.deliver(batch)) == [None, None]
    [run] = harness.runs()
    assert run["argv"][1:] == EXPECTED_ARGS
    assert run["stdin"] == expected_stdin(batch, "json")
    ads, ids = (json.loads(line) for line in run["stdin"].splitlines())
    assert (ads["perspective"], ads["severity"], ads["targets"]) == ("security", "HIGH", "192.168.112.2, 192.168.112.3")
    assert (ids["signatureName"], ids["severity"]) == ("ET INFO Observed DNS Query to .cloud TLD", "2")


def test_environment_is_only_the_allow_listed_variables_the_worker_has(harness: Harness,
                                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALLOWED_ONE", "yes")
    monkeypatch.setenv("NOT_ALLOWED", "secret")
    monkeypatch.delenv("ALLOWED_BUT_UNSET", raising=False)
    for name in ("record.sh", "record.py"):
        harness.script(name, RECORDING_BASH if name.endswith(".sh") else RECORDING_PYTHON)
        sink = harness.sink(script=name, environment=["PATH", "ALLOWED_ONE", "ALLOWED_BUT_UNSET"])
        assert asyncio.run(sink.deliver([delivery(ads_event())])) == [None]
    assert [run["env"] for run in harness.runs()] == [{"PATH": os.environ["PATH"], "ALLOWED_ONE": "yes"}] * 2


def test_a_batch_is_one_run_and_batch_size_one_is_a_run_per_event(harness: Harness):
    """Through the pipeline that calls the sink: it takes batches of at most sink.max_batch."""
    harness.script("record.sh", RECORDING_BASH)
    deliveries = [delivery(ads_event(n)) for n in range(1, 6)]

    async def through_pipeline(sink: ScriptSink) -> None:
        settled = []

        async def on_settled(batch):
            settled.extend(batch)

        pipeline = ActionPipeline(sink, sink.action.retry, harness.metrics, on_settled)
        for item in deliveries:
            pipeline.submit(Pending(item))
        pipeline.start()
        async with asyncio.timeout(60):
            while len(settled) < len(deliveries):
                await asyncio.sleep(0.05)
        await pipeline.stop()
        assert [failure for _, failure in settled] == [None] * len(deliveries)

    asyncio.run(through_pipeline(harness.sink(script="record.sh", batch_size=10)))
    [run] = harness.runs()
    assert run["stdin"] == expected_stdin(deliveries, "tsv")
    for path in harness.record.iterdir():
        path.unlink()
    asyncio.run(through_pipeline(harness.sink(script="record.sh", batch_size=1)))
    runs = harness.runs()
    assert len(runs) == 5
    assert sorted(run["stdin"] for run in runs) == sorted(expected_stdin([d], "tsv") for d in deliveries)


def test_non_zero_exit_fails_every_delivery_of_the_run_and_is_counted(harness: Harness,
                                                                      caplog: pytest.LogCaptureFixture):
    harness.script("fail.sh", "#!/bin/bash\n/bin/cat > /dev/null\necho 'half done'\n"
                   "echo 'the gateway\tsaid no' >&2\nexit 3\n")
    sink = harness.sink(script="fail.sh")
    with caplog.at_level(logging.INFO, logger="ads_actions.sinks.script"):
        outcomes = asyncio.run(sink.deliver([delivery(ads_event(1)), delivery(ads_event(2))]))
    assert all(isinstance(outcome, DeliveryFailed) for outcome in outcomes)
    assert [(o.reason, o.detail, o.permanent) for o in outcomes] == [
        ("exit_status", "exit 3: the gateway said no", False)] * 2
    assert harness.runs_counted("run", "3") == 1
    assert harness.registry.get_sample_value("ads_actions_script_run_duration_seconds_count", {"action": "run"}) == 1
    [record] = [r for r in caplog.records if r.name == "ads_actions.sinks.script"]
    assert record.levelno == logging.WARNING
    assert "exit 3" in record.getMessage()
    assert "'half done\\n'" in record.getMessage() and "the gateway\\tsaid no" in record.getMessage()


HANGING_WITH_CHILD = """#!/bin/bash
{trap}
/bin/sleep 1000 &
echo $! > {record}/child.pid
echo $$ > {record}/script.pid
wait
"""


@pytest.mark.parametrize("trap", ["", "trap '' TERM"], ids=["obeys-sigterm", "ignores-sigterm"])
def test_timeout_kills_the_script_and_everything_it_started(harness: Harness, trap: str):
    harness.script("hang.sh", HANGING_WITH_CHILD.replace("{trap}", trap))
    sink = harness.sink(script="hang.sh", timeout="1s")
    outcomes = asyncio.run(sink.deliver([delivery(ads_event())]))
    assert [(o.reason, o.permanent) for o in outcomes] == [("timeout", False)]
    assert harness.runs_counted("run", "timeout") == 1
    script_pid = int((harness.record / "script.pid").read_text())
    child_pid = int((harness.record / "child.pid").read_text())
    # deliver() returned after the group was killed; a killed orphan may wait to be reaped.
    wait_until(lambda: process_gone(script_pid) and process_gone(child_pid), "the script and its child to be gone")


def test_a_script_writing_much_before_reading_does_not_deadlock(harness: Harness):
    harness.script("chatty.py", "#!{python}\nimport sys\n"
                   "sys.stdout.write('o' * 1_000_000); sys.stdout.flush()\n"
                   "sys.stderr.write('e' * 1_000_000); sys.stderr.flush()\n"
                   "data = sys.stdin.buffer.read()\nsys.stdout.write(str(len(data)))\n")
    sink = harness.sink(script="chatty.py", timeout="60s")
    batch = [delivery(ads_event(n, detail="x" * 2000)) for n in range(1, 301)]  # stdin far beyond a pipe buffer
    assert asyncio.run(sink.deliver(batch)) == [None] * 300
    run = asyncio.run(run_action_script(sink.action, harness.scripts, expected_stdin(batch, "tsv"),
                                        LOGGED_OUTPUT_BYTES))
    assert run.exit_status == 0
    assert (run.stdout, run.stderr) == (b"o" * LOGGED_OUTPUT_BYTES, b"e" * LOGGED_OUTPUT_BYTES)
    whole = asyncio.run(run_action_script(sink.action, harness.scripts, expected_stdin(batch, "tsv"), None))
    assert whole.stdout == b"o" * 1_000_000 + str(len(expected_stdin(batch, "tsv"))).encode()


def test_a_script_that_does_not_read_its_input_still_succeeds(harness: Harness):
    harness.script("ignore.sh", "#!/bin/bash\nexit 0\n")
    sink = harness.sink(script="ignore.sh")
    assert asyncio.run(sink.deliver([delivery(ads_event(n, detail="y" * 4000)) for n in range(50)])) == [None] * 50


@pytest.mark.parametrize("make, reason", [
    ("missing", "script_not_found"),
    ("symlink-outside", "script_outside_directory"),
    ("not-executable", "script_not_executable"),
    ("directory", "script_not_executable"),
])
def test_scripts_that_may_not_run_are_refused_for_good(harness: Harness, tmp_path: Path, make: str, reason: str):
    name = "action.sh"
    if make == "symlink-outside":
        outside = write_script(tmp_path / "outside.sh", "#!/bin/bash\ntouch {}\n".format(tmp_path / "ran"))
        (harness.scripts / name).symlink_to(outside)
    elif make == "not-executable":
        harness.script(name, "#!/bin/bash\ntouch {record}/ran\n", executable=False)
    elif make == "directory":
        (harness.scripts / name).mkdir()
    sink = harness.sink(script=name)
    outcomes = asyncio.run(sink.deliver([delivery(ads_event(1)), delivery(ads_event(2))]))
    assert [(o.reason, o.permanent) for o in outcomes] == [(reason, True)] * 2
    assert not (tmp_path / "ran").exists() and not (harness.record / "ran").exists()
    assert harness.runs_counted("run", "start_error") == 1


def test_a_symlink_to_a_script_inside_the_directory_runs(harness: Harness):
    target = harness.script("record.sh", RECORDING_BASH)
    (harness.scripts / "alias.sh").symlink_to("record.sh")
    assert asyncio.run(harness.sink(script="alias.sh").deliver([delivery(ads_event())])) == [None]
    assert harness.runs()[0]["argv"][0] == str(target.resolve())


def test_a_script_the_system_cannot_start_is_a_start_error(harness: Harness):
    harness.script("broken.sh", "#!/nonexistent/interpreter\n")
    outcomes = asyncio.run(harness.sink(script="broken.sh").deliver([delivery(ads_event())]))
    assert [(o.reason, o.permanent) for o in outcomes] == [("start_error", False)]
    assert harness.runs_counted("run", "start_error") == 1


def test_a_hanging_script_does_not_delay_another_action(harness: Harness):
    harness.script("hang.sh", HANGING_WITH_CHILD.replace("{trap}", ""))
    harness.script("record.sh", RECORDING_BASH)
    hanging, fast = harness.sinks({"name": "hanging", "script": "hang.sh", "timeout": "1h"},
                                  {"name": "fast", "script": "record.sh"})

    async def both() -> None:
        slow_task = asyncio.create_task(hanging.deliver([delivery(ads_event(1), action="hanging")]))
        async with asyncio.timeout(60):
            while not (harness.record / "child.pid").exists():  # the hanging run really is running
                await asyncio.sleep(0.05)
        fast_task = asyncio.create_task(fast.deliver([delivery(ads_event(2), action="fast")]))
        done, _ = await asyncio.wait({slow_task, fast_task}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {fast_task}
        assert fast_task.result() == [None]
        # Stopping the worker cancels a delivery in progress: its processes must not survive it.
        slow_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow_task

    asyncio.run(both())
    child_pid = int((harness.record / "child.pid").read_text())
    script_pid = int((harness.record / "script.pid").read_text())
    wait_until(lambda: process_gone(script_pid) and process_gone(child_pid), "the cancelled run to be gone")


# Each run marks itself running, waits (at most 30 s) until `concurrency` runs are marked, notes
# the most it saw, then unmarks itself: more than `concurrency` at once would show.
OVERLAP_PROBE = """#!/bin/bash
shopt -s nullglob
touch {record}/running.$$
most=0
for _ in $(seq 600); do
    marks=({record}/running.*)
    (( ${{#marks[@]}} > most )) && most=${{#marks[@]}}
    (( most >= 2 )) && break
    sleep 0.05
done
for _ in 1 2 3 4 5; do
    marks=({record}/running.*)
    (( ${{#marks[@]}} > most )) && most=${{#marks[@]}}
    sleep 0.02
done
echo "$most" > {record}/seen.$$
rm {record}/running.$$
"""


def test_runs_of_one_action_never_overlap_more_than_its_concurrency(harness: Harness):
    harness.script("probe.sh", OVERLAP_PROBE)
    sink = harness.sink(script="probe.sh", concurrency=2, timeout="60s")
    assert sink.concurrency == 2

    async def many() -> list:
        return await asyncio.gather(*(sink.deliver([delivery(ads_event(n))]) for n in range(6)))

    assert asyncio.run(many()) == [[None]] * 6
    seen = [int(path.read_text()) for path in harness.record.glob("seen.*")]
    assert len(seen) == 6
    assert max(seen) == 2


def test_batch_size_and_concurrency_come_from_the_action(harness: Harness):
    sink = harness.sink(script="any.sh", batch_size=7, concurrency=3)
    assert (sink.kind, sink.max_batch, sink.concurrency) == ("script", 7, 3)
    assert isinstance(sink.action, ScriptAction)


@pytest.mark.parametrize("input_format", ["tsv", "tsv-extended", "json"])
def test_the_log_events_example_handles_ads_and_ids_events_in_every_format(tmp_path: Path, input_format: str):
    log = tmp_path / "events.jsonl"
    settings = settings_with(REPO / "deploy" / "scripts", {
        "name": "log", "script": "log-events.py", "input_format": input_format,
        "parameters": [{"name": "--file", "value": str(log)}]})
    sink = ScriptSink(settings.actions.script[0], settings, SinkMetrics(CollectorRegistry()))
    for batch in ([delivery(ads_event(1), action="log")], [delivery(ids_event(2), action="log")]):
        assert asyncio.run(sink.deliver(batch)) == [None]
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        {"kind": "ads", "id": 1, "time": "2025-11-03 15:11:01", "source": "10.1.4.20",
         "targets": ["192.168.112.2", "192.168.112.3"], "name": "SCANS", "priority": "HIGH"},
        {"kind": "ids", "id": 2, "time": "2025-05-15 06:45:56", "source": "10.20.20.20", "targets": ["10.10.10.10"],
         "name": "ET INFO Observed DNS Query to .cloud TLD", "priority": "2"}]
