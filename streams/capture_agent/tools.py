"""Running the capture tools (dumpcap, mergecap, editcap, tcpdump, capinfos): argv lists, no
shell, each in a new session so that a timeout or a cancellation kills it with its children."""

from __future__ import annotations

import asyncio

from ..processes import kill_group

# What a failure keeps of a tool's stderr, for the capture's status and the logs.
ERROR_CHARS = 300


class ToolFailed(Exception):
    """A tool could not be started, exited with an error or ran out of time."""


# util-linux (essential in Debian) sets the parent-death signal and execs the tool: a worker or
# agent killed with SIGKILL, which runs no cleanup, still stops its ring-buffer dumpcaps.
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "TERM", "--"]


async def start_tool(argv: list[str], **streams: int) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(*DIE_WITH_PARENT, *argv, stdin=asyncio.subprocess.DEVNULL,
                                                    start_new_session=True, **streams)
    except OSError as exc:
        raise ToolFailed(f"cannot run {argv[0]}: {exc.strerror or exc}") from None


async def run_tool(argv: list[str], timeout: float) -> bytes:
    """Run a tool to its end; its stdout. Raises ToolFailed on a non-zero exit or a timeout."""
    process = await start_tool(argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        raise ToolFailed(f"{argv[0]} did not finish within {timeout:g} s") from None
    finally:
        await kill_group(process)
    if process.returncode != 0:
        message = stderr.decode("utf-8", errors="replace").strip()[-ERROR_CHARS:]
        raise ToolFailed(f"{argv[0]} exited with status {process.returncode}: {message}")
    return stdout
