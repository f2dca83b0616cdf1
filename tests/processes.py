"""Looking at processes from tests: alive, CPU time, children (Linux /proc)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def _stat(pid: int) -> list[str]:
    """The fields of /proc/pid/stat after the command name (field 3, the state, first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        return _stat(pid)[0] != "Z"
    except FileNotFoundError:
        return False


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of pid, in clock ticks."""
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12])


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is pid."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def maps_of(pid: int) -> str:
    """The memory map of pid: which shared libraries it has loaded."""
    return Path(f"/proc/{pid}/maps").read_text()


def eventually(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll condition until it holds; fail naming what never happened (a bound, not a timing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)
