"""deploy/mibs/ADS-ACTIONS-MIB.txt: smilint finds nothing to say at level 6, pysmi compiles it as
an operator's tooling would, and the code sends exactly the notification and objects it defines."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from pysmi.codegen import JsonCodeGen
from pysmi.compiler import MibCompiler
from pysmi.parser import SmiStarParser
from pysmi.reader import FileReader
from pysmi.searcher import StubSearcher
from pysmi.writer import CallbackWriter

from sinks.snmp_varbinds import ADS_ACTIONS_MIB_OID, EVENT_NOTIFICATION_OID, EVENT_OBJECTS, object_oid
from streams.priorities import Priority

from streams.receivers.mibs import ADS_ACTIONS_MIB, MIB_DIR, fetch_script, mib_dirs

MODULE = "ADS-ACTIONS-MIB"
# The event fields the seed lists for custom scripts, plus subtype, perspective ID and method instance.
REQUIRED_OBJECTS = {
    "adsEventId", "adsEventDetectionTime", "adsEventFirstFlowTime", "adsEventType", "adsEventTypeDescription",
    "adsEventSubtype", "adsEventPerspective", "adsEventPerspectiveId", "adsEventPriority", "adsEventDetail",
    "adsEventPorts", "adsEventProtocol", "adsEventSource", "adsEventCapturedSource", "adsEventTargets",
    "adsEventDataFeed", "adsEventUserIdentity", "adsEventMethodInstance",
}


def smilint(mib: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("smilint") is None:
        pytest.fail("smilint not found: the Makefile installs it (apt package smitools)")
    environment = {**os.environ, "SMIPATH": ":".join(str(d) for d in mib_dirs())}
    return subprocess.run(["smilint", "-l", "6", str(mib)], capture_output=True, text=True, env=environment,
                          timeout=60)


@pytest.fixture(scope="module")
def compiled() -> dict:
    """The MIB compiled by pysmi to its JSON form, from source directories only (no download)."""
    modules: dict[str, dict] = {}
    compiler = MibCompiler(SmiStarParser(), JsonCodeGen(),
                           CallbackWriter(lambda name, data, _: modules.__setitem__(name, json.loads(data))))
    compiler.add_sources(*(FileReader(str(d)) for d in mib_dirs()))
    compiler.add_searchers(StubSearcher(*JsonCodeGen.baseMibs))
    status = compiler.compile(MODULE, noDeps=False, rebuild=True, genTexts=True)
    assert status[MODULE] == "compiled", status
    return modules[MODULE]


def test_smilint_level_6_has_nothing_to_say():
    result = smilint(ADS_ACTIONS_MIB)
    assert (result.stdout, result.stderr) == ("", "")


def test_smilint_check_would_catch_a_broken_mib(tmp_path: Path):
    """smilint exits 0 even on errors: the check above relies on its output, which must not be empty
    for a MIB with a problem."""
    broken = tmp_path / f"{MODULE}.txt"
    broken.write_text(ADS_ACTIONS_MIB.read_text().replace("adsEventMethodInstance\n    }", "adsEventMissing\n    }"))
    result = smilint(broken)
    assert "adsEventMissing" in result.stdout + result.stderr


def test_pysmi_compiles_the_notification_with_every_required_object(compiled: dict):
    notification = compiled["adsEventNotification"]
    assert notification["class"] == "notificationtype"
    objects = [item["object"] for item in notification["objects"]]
    assert REQUIRED_OBJECTS <= set(objects)
    assert objects == list(EVENT_OBJECTS)  # the code sends them in this order
    for name in objects:
        assert compiled[name]["maxaccess"] == "accessible-for-notify", name


def test_code_oids_match_the_mib(compiled: dict):
    def oid(name: str) -> tuple[int, ...]:
        return tuple(int(part) for part in compiled[name]["oid"].split("."))

    assert oid("adsActionsMIB") == ADS_ACTIONS_MIB_OID
    assert oid("adsEventNotification") == EVENT_NOTIFICATION_OID
    for name in EVENT_OBJECTS:
        assert oid(name) + (0,) == object_oid(name), name


def test_priority_enumeration_matches_the_priorities(compiled: dict):
    enumeration = compiled["AdsPriority"]["type"]["constraints"]["enumeration"]
    assert enumeration == {priority.name.lower(): priority.value for priority in Priority}


def test_readme_documents_the_placeholder_oid():
    readme = (MIB_DIR / "README.md").read_text()
    assert ".".join(map(str, ADS_ACTIONS_MIB_OID)) in readme


def npm_tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


def test_fetch_refuses_a_tarball_that_does_not_match_the_pinned_integrity():
    fetch = fetch_script()
    data = npm_tarball({"package/lib/mibs/SNMPv2-SMI.mib": b"x"})
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    fetch.verify_integrity(data, integrity)
    with pytest.raises(fetch.FetchError):
        fetch.verify_integrity(data + b"tampered", integrity)


def test_fetch_extracts_only_the_mib_files_by_base_name(tmp_path: Path):
    fetch = fetch_script()
    data = npm_tarball({"package/lib/mibs/SNMPv2-TC.mib": b"tc", "package/lib/mibs/../../../escape.mib": b"no",
                        "package/index.js": b"no", "package/lib/mibs/sub/deeper.mib": b"no"})
    assert fetch.extract_mibs(data, tmp_path) == ["SNMPv2-TC.mib"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SNMPv2-TC.mib"]


def test_fetch_does_nothing_when_the_mibs_of_its_version_are_there(tmp_path: Path):
    fetch = fetch_script()
    (tmp_path / fetch.VERSION_MARKER).write_text("fetched")
    assert fetch.fetch_ietf_mibs(tmp_path) is False  # no download: this would fail without the network
