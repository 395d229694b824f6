"""How much CPU other processes take while the benchmark runs.

llama.cpp's threads spin while they wait for each other, so on a small machine a core shared with
anything else slows every engine several-fold. Each figure is reported with the CPUs' worth of
work other processes did while it was measured.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _system_busy() -> float:
    """CPU seconds all processes spent since boot (idle and iowait excluded)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / _TICK


def _ours() -> float:
    """CPU seconds of this process, its reaped children and its live descendants."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    me = os.getpid()
    for pid in cpu:
        p = parents.get(pid)
        while p and p != me:
            p = parents.get(p)
        if p == me:
            total += cpu[pid]
    return total


class OtherLoad:
    """Started on creation; `cpus()` is the mean number of CPUs others kept busy since."""

    def __init__(self) -> None:
        self._start = (_system_busy(), _ours(), time.monotonic())

    def cpus(self) -> float:
        busy0, ours0, t0 = self._start
        busy, ours, t = _system_busy(), _ours(), time.monotonic()
        return max(0.0, (busy - busy0) - (ours - ours0)) / max(t - t0, 1e-9)
