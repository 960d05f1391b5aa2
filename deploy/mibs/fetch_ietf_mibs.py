#!/usr/bin/env python3
"""Download the IETF base MIBs (SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF, ...) that ADS-ACTIONS-MIB imports.

Debian ships none of them (they are in the non-free snmp-mibs-downloader). The npm package
``net-snmp`` (MIT) carries them in ``lib/mibs/``: this script fetches one pinned version of its
tarball straight from the npm registry, checks it against the pinned sha512 ``dist.integrity``,
and extracts the MIB files into TARGET_DIR. It does nothing when TARGET_DIR already holds them
(those of this version).

    python deploy/mibs/fetch_ietf_mibs.py .venv/share/ietf-mibs

Standard library only: it runs before the virtualenv has anything installed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path, PurePosixPath

NET_SNMP_VERSION = "3.29.2"
TARBALL_URL = f"https://registry.npmjs.org/net-snmp/-/net-snmp-{NET_SNMP_VERSION}.tgz"
# The registry's dist.integrity of that version: the download must match it byte for byte.
TARBALL_INTEGRITY = "sha512-ZXQyrPayCUaZxkxXBvExAYjkvZsPDBYUpK8ljIzrA5a/jByYR4REr/hpbld9wJ0tCr8d/pM7pSogDC0B/syiXQ=="
MIBS_IN_TARBALL = PurePosixPath("package/lib/mibs")
# What ADS-ACTIONS-MIB imports.
REQUIRED_MODULES = ("SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF")
MIB_SUFFIX = ".mib"
# Written last: says which version the directory holds, so that changing NET_SNMP_VERSION fetches again.
VERSION_MARKER = f".net-snmp-{NET_SNMP_VERSION}"
DOWNLOAD_TIMEOUT_SECONDS = 60


class FetchError(Exception):
    pass


def is_complete(target_dir: Path) -> bool:
    return (target_dir / VERSION_MARKER).is_file()


def verify_integrity(data: bytes, integrity: str = TARBALL_INTEGRITY) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise FetchError(f"expected a sha512 integrity string, found {integrity!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if actual != expected:
        raise FetchError(f"{TARBALL_URL}: sha512 {actual} does not match the pinned {expected}")


def extract_mibs(tarball: bytes, target_dir: Path) -> list[str]:
    """Write the tarball's lib/mibs/* files into target_dir, by base name only (no path from the
    archive is trusted); returns the names written."""
    written = []
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            path = PurePosixPath(member.name)
            if not member.isfile() or path.parent != MIBS_IN_TARBALL or path.name.startswith("."):
                continue
            source = archive.extractfile(member)
            assert source is not None  # a regular file always has content
            (target_dir / path.name).write_bytes(source.read())
            written.append(path.name)
    return sorted(written)


def fetch_ietf_mibs(target_dir: Path) -> bool:
    """Make target_dir hold the IETF base MIBs; returns False when it already did."""
    target_dir = Path(target_dir)
    if is_complete(target_dir):
        return False
    with urllib.request.urlopen(TARBALL_URL, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        tarball = response.read()
    verify_integrity(tarball)
    target_dir.mkdir(parents=True, exist_ok=True)
    names = extract_mibs(tarball, target_dir)
    missing = [module for module in REQUIRED_MODULES if f"{module}{MIB_SUFFIX}" not in names]
    if missing:
        raise FetchError(f"{TARBALL_URL} lacks {', '.join(missing)}; found {names}")
    # Last: a directory an interrupted run left has no marker, and the next run fetches again.
    (target_dir / VERSION_MARKER).write_text(f"{TARBALL_URL}\n{TARBALL_INTEGRITY}\n")
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} TARGET_DIR", file=sys.stderr)
        return 2
    target_dir = Path(argv[1])
    try:
        fetched = fetch_ietf_mibs(target_dir)
    except (OSError, FetchError) as exc:
        print(f"fetch_ietf_mibs: {exc}", file=sys.stderr)
        return 1
    if fetched:
        print(f"fetch_ietf_mibs: IETF base MIBs of net-snmp {NET_SNMP_VERSION} written to {target_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
