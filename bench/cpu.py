"""Where the cores went: CPU seconds of groups of processes (each with its descendants, and the
children it has already reaped) and of the whole machine, read from /proc (Linux)."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _parents() -> dict[int, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))):
            found[int(entry)] = int(fields[1])
    return found


def tree_seconds(root: int, parents: dict[int, int]) -> float:
    """CPU seconds of ``root``, of its live descendants and of the descendants it reaped."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if fields := _stat(pid):
            # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the name
            total += sum(int(value) for value in fields[11:15]) / TICK
        todo += children.get(pid, [])
    return total


def machine() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, all cores together."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICK, sum(values[:8]) / TICK


@dataclass
class Snapshot:
    at: float
    groups: dict[str, float]
    own: float  # this process: the calls' clients
    reaped: float  # this process's reaped children: the load generator
    busy: float
    total: float


def snapshot(groups: dict[str, list[int]]) -> Snapshot:
    parents = _parents()
    own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, total = machine()
    return Snapshot(time.monotonic(), {name: sum(tree_seconds(pid, parents) for pid in pids)
                                       for name, pids in groups.items()},
                    own.ru_utime + own.ru_stime, reaped.ru_utime + reaped.ru_stime, busy, total)


def cores_used(before: Snapshot, after: Snapshot, generator: str, own: str) -> dict[str, float]:
    """Cores each group kept busy between the two snapshots (CPU seconds per second), then the
    load generator (reaped in between), this process, the rest of the machine and its total."""
    seconds = after.at - before.at
    used = {name: (after.groups[name] - before.groups[name]) / seconds for name in after.groups}
    used[generator] = (after.reaped - before.reaped) / seconds
    used[own] = (after.own - before.own) / seconds
    cores = os.cpu_count() or 1
    machine_busy = (after.busy - before.busy) / (after.total - before.total) * cores
    used["rest of the machine"] = max(0.0, machine_busy - sum(used.values()))
    used["machine"] = machine_busy
    return used
