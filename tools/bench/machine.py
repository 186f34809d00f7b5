"""What the numbers were measured on."""

import os
import platform
import re
import subprocess
from pathlib import Path


def _run(*command: str) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    return (
        (result.stdout or result.stderr).strip().splitlines()[0]
        if (result.stdout or result.stderr).strip()
        else ""
    )


def _cpu_model() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor()


def _memory_gib() -> float | None:
    text = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.MULTILINE)
    return round(int(match.group(1)) / 1024**2, 1) if match else None


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def describe(image: str | None = None) -> dict:
    info = {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "docker": _run("docker", "version", "--format", "{{.Server.Version}}"),
        "compose": _run("docker", "compose", "version", "--short"),
        "wrk": _run("wrk", "--version"),
        "host_python": platform.python_version(),
    }
    if image:
        info["container_python"] = _run(
            "docker", "run", "--rm", "--entrypoint", "python", image, "-V"
        )
    return info
