#!/usr/bin/env python3
"""Example custom script of ads-actions: appends one normalised JSON line per event to a file.

    log-events.py --file /var/log/ads-events.jsonl < events

It handles ADS and IDS events in every format ads-actions gives scripts, telling them apart as the
vendor documents: tab-separated lines by their field count (ADS 15, or 17 with the extended
options; IDS 14), JSON objects by their keys (IDS events have srcIp, dstIp and signatureName).
Each event becomes one line {"kind": "ads" or "ids", "id", "time", "source", "targets", "name",
"priority"}: an ADS event's name is its type and its priority the perspective's; an IDS event's
name is its signature and its priority its severity. Lines that are neither are reported on
stderr, and the script then exits with status 1 (after logging the others).
"""

import argparse
import fcntl
import json
import sys

ADS_FIELDS = 15
ADS_EXTENDED_FIELDS = 17
IDS_FIELDS = 14


def _text(value):
    """An empty TSV field arrives as a single space; JSON may hold numbers or null."""
    return "" if value is None else str(value).strip()


def _targets(text):
    return [target.strip() for target in text.split(",") if target.strip()]


def _ads(event_id, time, event_type, priority, source, targets):
    return {"kind": "ads", "id": int(event_id), "time": _text(time), "source": _text(source),
            "targets": _targets(_text(targets)), "name": _text(event_type), "priority": _text(priority)}


def _ids(event_id, time, src_ip, dst_ip, signature, severity):
    return {"kind": "ids", "id": int(event_id), "time": _text(time), "source": _text(src_ip),
            "targets": _targets(_text(dst_ip)), "name": _text(signature), "priority": _text(severity)}


def normalise(line):
    """The normalised record of one input line; raises ValueError for anything else."""
    if line.startswith("{"):
        event = json.loads(line)
        if "signatureName" in event or ("srcIp" in event and "dstIp" in event):
            return _ids(event["id"], event.get("firstSeen"), event.get("srcIp"), event.get("dstIp"),
                        event.get("signatureName"), event.get("severity"))
        return _ads(event["id"], event.get("timestamp"), event.get("type"), event.get("severity"),
                    event.get("source"), event.get("targets"))
    fields = line.split("\t")
    if len(fields) == IDS_FIELDS:
        return _ids(fields[0], fields[1], fields[3], fields[5], fields[9], fields[13])
    if len(fields) in (ADS_FIELDS, ADS_EXTENDED_FIELDS):
        rest = fields[len(fields) - 11:]  # from the type description on: the same in both layouts
        return _ads(fields[0], fields[1], fields[3], rest[2], rest[6], rest[8])
    raise ValueError(f"expected 14, 15 or 17 tab-separated fields or a JSON object, found {len(fields)} fields")


def main():
    parser = argparse.ArgumentParser(description="Append one normalised JSON line per event to a file.")
    parser.add_argument("--file", required=True, help="the file to append to")
    arguments = parser.parse_args()
    records, failed = [], False
    for number, line in enumerate(sys.stdin.buffer.read().decode("utf-8", errors="replace").split("\n"), 1):
        if not line.strip():
            continue
        try:
            records.append(json.dumps(normalise(line), ensure_ascii=False))
        except (ValueError, KeyError, TypeError) as exc:
            print(f"log-events.py: line {number}: {exc}", file=sys.stderr)
            failed = True
    with open(arguments.file, "a", encoding="utf-8") as log:
        # Runs of one action may overlap (its concurrency): whole batches, never interleaved lines.
        fcntl.flock(log, fcntl.LOCK_EX)
        log.write("".join(record + "\n" for record in records))
    print(f"log-events.py: {len(records)} events appended to {arguments.file}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
