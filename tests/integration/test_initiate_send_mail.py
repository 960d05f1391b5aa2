"""`ads-actions initiate` and `ads-actions send-mail` as a user runs them, and the demo script
email-report.sh end to end: real processes, a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sinks.script_input import script_line
from streams.events import InputLimits, ads_event_from_mapping, ids_event_from_mapping
from streams.priorities import Priority
from tests.conftest import REPO
from tests.integration.script_processes import process_gone, wait_until
from tests.integration.smtp_server import SERVER_NAME, running_smtp_server, self_signed_certificate

EVENTS = REPO / "examples" / "events"
DEMO_SCRIPTS = REPO / "deploy" / "scripts"
ADS_ACTIONS = Path(sys.executable).with_name("ads-actions")  # the venv's, as installed by `make install`

# Prints its arguments and stdin, says something on stderr, exits with the status in $EXIT_WITH.
ECHO_SCRIPT = """#!/bin/bash
printf 'arg: %s\\n' "$@"
printf 'stdin: %s\\n' "$(/bin/cat)"
echo "to stderr" >&2
exit "${EXIT_WITH:-0}"
"""


def script_stdin(output: str) -> str:
    """The stdin line ECHO_SCRIPT printed."""
    [line] = [line for line in output.splitlines() if line.startswith("stdin: ")]
    return line.removeprefix("stdin: ")


def ads_actions(*args: str, stdin: str | bytes = b"", env: dict | None = None) -> subprocess.CompletedProcess:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    result = subprocess.run([sys.executable, "-m", "streams.cli", *args], input=data, capture_output=True,
                            timeout=120, cwd=REPO, env=env)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(),
                                       result.stderr.decode())


def write_config(tmp_path: Path, smtp: dict | None = None, scripts_dir: Path | None = None,
                 actions: list[dict] = ()) -> Path:
    config = {
        "perspectives": {"security": {"id": 1, "rules": [{"types": ["DOS"], "priority": "CRITICAL"},
                                                         {"types": ["IDSP"], "priority": "HIGH"}]}},
        "scripts": {"directory": str(scripts_dir or tmp_path / "scripts")},
        "smtp": smtp or {},
        "actions": {"script": [{"perspective": "security", **action} for action in actions]},
    }
    path = tmp_path / "actions.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def script_dir_with(tmp_path: Path, name: str, text: str) -> Path:
    directory = tmp_path / "scripts"
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text)
    (directory / name).chmod(0o755)
    return directory


# ---- initiate ----

def test_initiate_runs_the_script_on_an_ads_event_and_passes_its_output_and_status(tmp_path: Path):
    script_dir_with(tmp_path, "echo.sh", ECHO_SCRIPT)
    config = write_config(tmp_path, actions=[{
        "name": "pager", "script": "echo.sh", "min_priority": "CRITICAL", "environment": ["EXIT_WITH"],
        "parameters": [{"name": "--to", "value": "+420 123"}, {"name": "mode", "value": "test"}]}])
    result = ads_actions("initiate", "-c", str(config), "--script", "pager", str(EVENTS / "dos-attack.json"),
                         env={**os.environ, "EXIT_WITH": "5"})
    assert result.returncode == 5, result.stderr
    event = ads_event_from_mapping(json.loads((EVENTS / "dos-attack.json").read_text()), InputLimits())
    expected_line = script_line(event, "tsv", "security", Priority.CRITICAL)
    assert result.stdout == f"arg: --to\narg: +420 123\narg: mode\narg: test\nstdin: {expected_line}\n"
    assert result.stderr == "to stderr\n"


def test_initiate_gives_ids_events_in_the_ids_format(tmp_path: Path):
    script_dir_with(tmp_path, "echo.sh", ECHO_SCRIPT)
    config = write_config(tmp_path, actions=[{"name": "pager", "script": "echo.sh", "input_format": "json"}])
    result = ads_actions("initiate", "-c", str(config), "--script", "pager", "-",
                         stdin=(EVENTS / "ids-event.json").read_bytes())
    assert result.returncode == 0, result.stderr
    line = script_stdin(result.stdout)
    assert json.loads(line) == json.loads((EVENTS / "ids-event.json").read_text())
    event = ids_event_from_mapping(json.loads((EVENTS / "ids-event.json").read_text()), InputLimits())
    assert line == script_line(event, "json", "security", Priority.HIGH)


def test_initiate_runs_even_when_the_perspective_gives_no_priority_and_says_so(tmp_path: Path):
    script_dir_with(tmp_path, "echo.sh", ECHO_SCRIPT)
    config = write_config(tmp_path, actions=[{"name": "pager", "script": "echo.sh"}])
    result = ads_actions("initiate", "-c", str(config), "--script", "pager", str(EVENTS / "ot-anomaly.json"))
    assert result.returncode == 0
    fields = script_stdin(result.stdout).split("\t")
    assert (fields[3], fields[5], fields[6]) == ("OTCLANOM", "security", " ")
    assert "perspective 'security' gives this event no priority" in result.stderr
    assert result.stderr.endswith("to stderr\n")


def test_initiate_reports_a_timeout_and_kills_the_script(tmp_path: Path):
    script_dir_with(tmp_path, "hang.sh", f"#!/bin/bash\n/bin/sleep 1000 &\necho $! > {tmp_path}/child.pid\nwait\n")
    config = write_config(tmp_path, actions=[{"name": "pager", "script": "hang.sh", "timeout": "1s"}])
    result = ads_actions("initiate", "-c", str(config), "--script", "pager", str(EVENTS / "dos-attack.json"))
    assert result.returncode == 124
    assert "did not exit within 1 s" in result.stderr
    child = int((tmp_path / "child.pid").read_text())
    wait_until(lambda: process_gone(child), "the script's child to be gone")


@pytest.mark.parametrize("case, status, message", [
    ("unknown action", 1, "no script action named 'nope' (script actions: pager)"),
    ("missing script", 127, "(script_not_found)"),
    ("invalid event", 1, "invalid event (missing_field)"),
])
def test_initiate_refusals(tmp_path: Path, case: str, status: int, message: str):
    config = write_config(tmp_path, actions=[{"name": "pager", "script": "absent.sh"}])
    event = tmp_path / "event.json"
    valid = (EVENTS / "dos-attack.json").read_text()
    event.write_text('{"id": 1, "type": "DOS"}' if case == "invalid event" else valid)
    result = ads_actions("initiate", "-c", str(config), "--script", "nope" if case == "unknown action" else "pager",
                         str(event))
    assert result.returncode == status
    assert message in result.stderr


# ---- send-mail ----

def test_send_mail_delivers_one_plain_text_mail(tmp_path: Path):
    with running_smtp_server() as server:
        config = write_config(tmp_path, smtp={"host": "127.0.0.1", "port": server.port,
                                              "from_address": "ads@example.org"})
        result = ads_actions("send-mail", "-c", str(config), "--to", "soc@example.org", "--to",
                             "NOC Team <noc@example.org>", "--subject", "ADS: kritická událost",
                             "--body", "Events:", stdin="line one\tx\nline two\n")
        assert result.returncode == 0, result.stderr
        [mail] = server.mails
    assert mail.mail_from == "ads@example.org"
    assert mail.recipients == ["soc@example.org", "noc@example.org"]
    message = mail.message
    assert message["Subject"] == "ADS: kritická událost"
    assert message["From"] == "ads@example.org"
    assert message["To"] == "soc@example.org, noc@example.org"
    assert message["Date"] and message["Message-ID"].endswith("@example.org>")
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == "Events:\n\nline one\tx\nline two\n"


@pytest.mark.parametrize("option, value", [
    ("--subject", "hello\r\nBcc: evil@example.net"),
    ("--subject", "hello\nBcc: evil@example.net"),
    ("--to", "soc@example.org\nBcc: evil@example.net"),
    ("--to", "soc@example.org, evil@example.net"),
    ("--to", "not an address"),
])
def test_send_mail_refuses_header_injection_and_bad_addresses(tmp_path: Path, option: str, value: str):
    with running_smtp_server() as server:
        config = write_config(tmp_path, smtp={"host": "127.0.0.1", "port": server.port})
        arguments = {"--to": "soc@example.org", "--subject": "fine", option: value}
        result = ads_actions("send-mail", "-c", str(config), "--to", arguments["--to"], "--subject",
                             arguments["--subject"], stdin="event\n")
        assert server.mails == []
    assert result.returncode == 2
    assert result.stderr.startswith("send-mail: ")


def test_send_mail_fails_clearly_when_the_server_is_not_there(tmp_path: Path):
    with running_smtp_server() as server:
        port = server.port
    config = write_config(tmp_path, smtp={"host": "127.0.0.1", "port": port})
    result = ads_actions("send-mail", "-c", str(config), "--to", "soc@example.org", "--subject", "s")
    assert result.returncode == 1
    assert f"send-mail: mail not sent (connection_failed): 127.0.0.1:{port}: cannot connect" in result.stderr


def test_send_mail_fails_clearly_when_the_server_refuses_a_recipient(tmp_path: Path):
    with running_smtp_server(refused_recipients={"gone@example.org"}) as server:
        config = write_config(tmp_path, smtp={"host": "127.0.0.1", "port": server.port})
        result = ads_actions("send-mail", "-c", str(config), "--to", "gone@example.org", "--subject", "s")
        assert server.mails == []
    assert result.returncode == 1
    assert "mail not sent (rejected)" in result.stderr and "550 5.1.1 no such mailbox here" in result.stderr


# aiosmtpd warns when it accepts AUTH without STARTTLS, which it must on an implicit TLS connection.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_send_mail_over_tls_with_login_never_shows_the_password(tmp_path: Path, security: str):
    certificate = self_signed_certificate(tmp_path)
    password = "s3cret-Pa55word"
    with running_smtp_server(security, certificate, login=("ads", password)) as server:
        smtp = {"host": "127.0.0.1", "port": server.port, "security": security, "username": "ads",
                "password": password, "tls": {"ca_file": str(certificate[0]), "server_name": SERVER_NAME}}
        config = write_config(tmp_path, smtp=smtp)
        sent = ads_actions("send-mail", "-c", str(config), "--to", "soc@example.org", "--subject", "over TLS")
        assert sent.returncode == 0, sent.stderr
        [mail] = server.mails
        assert (mail.login, mail.message["Subject"]) == ("ads", "over TLS")

        config = write_config(tmp_path, smtp={**smtp, "password": "wrong-" + password})
        refused = ads_actions("send-mail", "-c", str(config), "--to", "soc@example.org", "--subject", "s")
        assert refused.returncode == 1
        assert "mail not sent (authentication)" in refused.stderr

        # Without server_name the certificate (for mail.example.test) does not match 127.0.0.1.
        config = write_config(tmp_path, smtp={**smtp, "tls": {"ca_file": str(certificate[0])}})
        unverified = ads_actions("send-mail", "-c", str(config), "--to", "soc@example.org", "--subject", "s")
        assert unverified.returncode == 1
        assert "mail not sent" in unverified.stderr and "certificate" in unverified.stderr.lower()
        assert len(server.mails) == 1
    for result in (sent, refused, unverified):
        assert password not in result.stdout + result.stderr


# ---- the demo scripts ----

def _demo_events() -> tuple[list[str], list[str]]:
    """TSV lines as the worker gives them (ADS 15 and 17 fields, IDS 14), and the same as JSON."""
    limits = InputLimits()
    ads = ads_event_from_mapping(json.loads((EVENTS / "dos-attack.json").read_text()), limits)
    scan = ads_event_from_mapping(json.loads((EVENTS / "staff-scanning-dmz.json").read_text()), limits)
    ids = ids_event_from_mapping(json.loads((EVENTS / "ids-event.json").read_text()), limits)
    tsv = [script_line(ads, "tsv", "security", Priority.CRITICAL),
           script_line(scan, "tsv-extended", "security", Priority.HIGH),
           script_line(ids, "tsv", "security", Priority.HIGH)]
    as_json = [script_line(event, "json", "security", Priority.CRITICAL) for event in (ads, scan, ids)]
    return tsv, as_json


def _assert_demo_mail(mail, subject: str) -> None:
    assert mail.recipients == ["soc@example.org", "noc@example.org"]
    assert mail.message["Subject"] == subject
    body = mail.message.get_content()
    assert body.startswith("Critical events detected by ADS:\n\nEvents: 3\n")
    assert "ADS event 5102353, priority CRITICAL in perspective security" in body
    assert "Possible DoS attack: SYN flood on port 443 (flows: 120000, packets: 2.4 M)." in body
    assert "ADS event 5102360" in body and "192.168.112.2, 192.168.112.3, 192.168.112.4" in body
    assert "IDS event 123456, severity 2" in body
    assert "10.20.20.20:65432 -> 10.10.10.10:53 UDP" in body


@pytest.mark.parametrize("input_format", ["tsv", "json"])
def test_email_report_sh_mails_the_events_it_reads(tmp_path: Path, input_format: str):
    tsv, as_json = _demo_events()
    with running_smtp_server() as server:
        config = write_config(tmp_path, smtp={"host": "127.0.0.1", "port": server.port})
        result = subprocess.run(
            [str(DEMO_SCRIPTS / "email-report.sh"), "--address", "soc@example.org, noc@example.org",
             "--subject", f"ADS: {input_format}", "--body", "Critical events detected by ADS:"],
            input="".join(line + "\n" for line in (tsv if input_format == "tsv" else as_json)).encode(),
            capture_output=True, timeout=120,
            env={"PATH": os.environ["PATH"], "ADS_ACTIONS": str(ADS_ACTIONS), "ADS_ACTIONS_CONFIG": str(config)})
        assert result.returncode == 0, result.stderr.decode()
        [mail] = server.mails
    _assert_demo_mail(mail, f"ADS: {input_format}")
    if input_format == "tsv":
        assert "[subtype -, MITRE ATT&CK TA0007:T1046]" in mail.message.get_content()


@pytest.mark.skipif(shutil.which("jq") is None, reason="email-report.sh reads JSON events with jq")
def test_email_report_sh_through_initiate_with_json_events(tmp_path: Path):
    """The shipped script run the way the worker runs it: from scripts.directory, through the sink's
    runner, with only its allow-listed environment."""
    with running_smtp_server() as server:
        config = write_config(tmp_path, smtp={"host": "127.0.0.1", "port": server.port}, scripts_dir=DEMO_SCRIPTS,
                              actions=[{"name": "mail-soc", "script": "email-report.sh", "input_format": "json",
                                        "environment": ["PATH", "ADS_ACTIONS", "ADS_ACTIONS_CONFIG"],
                                        "parameters": [{"name": "--address", "value": "soc@example.org"},
                                                       {"name": "--subject", "value": "ADS: one event"},
                                                       {"name": "--body", "value": "Initiated:"}]}])
        env = {**os.environ, "ADS_ACTIONS": str(ADS_ACTIONS), "ADS_ACTIONS_CONFIG": str(config)}
        result = ads_actions("initiate", "-c", str(config), "--script", "mail-soc", str(EVENTS / "ids-event.json"),
                             env=env)
        assert result.returncode == 0, result.stderr
        assert "send-mail: sent to soc@example.org" in result.stderr
        [mail] = server.mails
    body = mail.message.get_content()
    assert body.startswith("Initiated:\n\nEvents: 1\n\nIDS event 123456, severity 2\n")
    assert "2027865 ET INFO Observed DNS Query to .cloud TLD (Potentially Bad Traffic)" in body


def test_email_report_sh_usage_errors(tmp_path: Path):
    script = str(DEMO_SCRIPTS / "email-report.sh")
    missing = subprocess.run([script, "--subject", "s"], input=b"", capture_output=True, timeout=60)
    assert missing.returncode == 2 and b"usage: email-report.sh" in missing.stderr
    unknown = subprocess.run([script, "--address", "a@example.org", "--subject", "s", "--colour", "red"],
                             input=b"", capture_output=True, timeout=60)
    assert unknown.returncode == 2
    no_config = subprocess.run([script, "--address", "a@example.org", "--subject", "s"], input=b"x\n",
                               capture_output=True, timeout=60, env={"PATH": os.environ["PATH"],
                                                                     "ADS_ACTIONS": str(ADS_ACTIONS)})
    assert no_config.returncode == 1 and b"ADS_ACTIONS_CONFIG is not set" in no_config.stderr


@pytest.mark.parametrize("script", ["email-report.sh", "log-events.py"])
def test_demo_scripts_are_executable_and_lint_clean(script: str):
    path = DEMO_SCRIPTS / script
    assert os.access(path, os.X_OK)
    if script.endswith(".sh"):
        assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
        if shutil.which("shellcheck"):
            check = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
            assert check.returncode == 0, check.stdout
    else:
        compile(path.read_text(), str(path), "exec")  # no byte code written into the scripts directory
