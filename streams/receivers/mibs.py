"""Where the MIBs are in a checkout, for the tests, the demo and the benchmark: ours in
deploy/mibs, the IETF base MIBs where ``make install`` puts them (fetched here when that has not
happened yet, e.g. after an older install)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

# A checkout: the package is installed in editable mode (make install).
REPO = Path(__file__).resolve().parents[2]
MIB_DIR = REPO / "deploy" / "mibs"
ADS_ACTIONS_MIB = MIB_DIR / "ADS-ACTIONS-MIB.txt"
# As the Makefile calls it: python deploy/mibs/fetch_ietf_mibs.py .venv/share/ietf-mibs
IETF_MIB_DIR = REPO / ".venv" / "share" / "ietf-mibs"
# NET-SNMP-MIB (netSnmpPlaypen, the placeholder arc) comes with net-snmp (Debian: libsnmp-base).
NET_SNMP_MIB_DIR = Path("/usr/share/snmp/mibs")


def fetch_script() -> ModuleType:
    """deploy/mibs/fetch_ietf_mibs.py, a script rather than a module of a package."""
    spec = importlib.util.spec_from_file_location("fetch_ietf_mibs", MIB_DIR / "fetch_ietf_mibs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ietf_mib_dir() -> Path:
    fetch_script().fetch_ietf_mibs(IETF_MIB_DIR)
    return IETF_MIB_DIR


def mib_dirs() -> list[Path]:
    """Every directory the MIB and its imports are found in."""
    return [MIB_DIR, ietf_mib_dir(), NET_SNMP_MIB_DIR]
