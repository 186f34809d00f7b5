"""CPU time that the servers spend per request, read from /proc (Linux).

Throughput on a shared machine measures the other work as much as ours;
CPU seconds per request do not depend on it, so they show what a
configuration costs even where req/s is noisy. Container processes are
host processes too: the web container's tree is found from its main PID,
and Docker's port proxy (docker-proxy, when the daemon uses it) by the
host port it listens on.
"""

import os
from pathlib import Path

PROC = Path("/proc")


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of the process itself)."""
    ticks = os.sysconf("SC_CLK_TCK")
    result = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        # utime, stime, cutime, cstime: children reaped count too.
        result[int(entry.name)] = (
            int(fields[1]),
            sum(int(value) for value in fields[11:15]) / ticks,
        )
    return result


def tree_seconds(roots: list[int]) -> float:
    """CPU seconds used so far by the processes ``roots`` and their descendants."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    total, stack, seen = 0.0, list(roots), set()
    while stack:
        pid = stack.pop()
        if pid in seen or pid not in processes:
            continue
        seen.add(pid)
        total += processes[pid][1]
        stack.extend(children.get(pid, []))
    return total


def children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (gunicorn's workers, for its master)."""
    return sorted(child for child, (parent, _) in _processes().items() if parent == pid)


def named_child(pid: int, word: str) -> int | None:
    """The child of ``pid`` whose command line holds ``word`` (PostgreSQL's
    processes name their role: "postgres: archiver ..."); None: none."""
    for child in children(pid):
        try:
            argv = (PROC / str(child) / "cmdline").read_bytes()
        except OSError:
            continue
        if word.encode() in argv:
            return child
    return None


def container_cpu_limit(inspect: dict) -> float | None:
    """CPUs' worth of time a container may use (docker inspect); None: no limit."""
    host = inspect["HostConfig"]
    if host.get("NanoCpus"):
        return host["NanoCpus"] / 1e9
    if host.get("CpuQuota", 0) > 0 and host.get("CpuPeriod"):
        return host["CpuQuota"] / host["CpuPeriod"]
    return None


def port_proxies(host_port: int) -> list[int]:
    """PIDs of docker-proxy processes publishing ``host_port``."""
    pids = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"docker-proxy") and str(host_port).encode() in argv:
            pids.append(int(entry.name))
    return pids


def available() -> bool:
    return (PROC / "self" / "stat").exists()
