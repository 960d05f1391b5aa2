"""The capture agent: rolling packet buffers per interface (dumpcap ring files) and, per event,
one capture of the event's hosts from a moment in the past until the end of a live recording,
served over an HTTP API with bearer-token auth (docs/architecture.md, "Traffic recording").

Runs as ``ads-actions capture-agent`` on the host that sees the traffic, or inside the worker for
capture actions with ``agent: local``. Every tool runs without a shell, from argv lists built of
validated values only (IP address objects, integers, configured interface names).
"""
