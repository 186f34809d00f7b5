"""HTTP load with wrk, and the native gunicorn it is compared with.

wrk runs on the host against 127.0.0.1 only, for a bounded duration; the
Lua script (wrk_report.lua) reports exact percentiles and non-2xx counts.
"""

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Self

from tools.throwaway import REPO_DIR, THROUGH_PROXY, free_port

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
WRK_THREADS = 2


def run_wrk(url: str, connections: int, seconds: int, headers: dict | None = None) -> dict:
    """One wrk run; requests/s, latency in ms, errors and non-2xx counted.
    Every request carries THROUGH_PROXY and ``headers``."""
    command = [
        "wrk",
        f"--threads={min(WRK_THREADS, connections)}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={WRK_SCRIPT}",
        *[
            f"--header={name}: {value}"
            for name, value in {**THROUGH_PROXY, **(headers or {})}.items()
        ],
        url,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"wrk exited {result.returncode}: {result.stderr.strip()[-500:]}")
    return parse_wrk(result.stdout)


def parse_wrk(output: str) -> dict:
    """The WRK_JSON line of wrk_report.lua, in the units the report uses."""
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            raw = json.loads(line.removeprefix("WRK_JSON "))
            break
    else:
        raise RuntimeError(f"wrk printed no WRK_JSON line:\n{output[-500:]}")
    errors = raw["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    seconds = raw["duration_us"] / 1e6
    latency = {name: value / 1000 for name, value in raw["latency_us"].items()}
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(latency["p50"], 2),
        "p90_ms": round(latency["p90"], 2),
        "p99_ms": round(latency["p99"], 2),
        "max_ms": round(latency["max"], 2),
        "non2xx": raw["non2xx"],
        "socket_errors": socket_errors,
        "errors": errors,
    }


def get(url: str, timeout: float = 5, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={**THROUGH_PROXY, **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if get(url, timeout=2)[0] == 200:
                return
        except OSError as error:
            last = error
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout}s ({last})")


class NativeGunicorn:
    """The image's gunicorn config run on the host, against the stack's db.

    Same gunicorn.conf.py (workers, threads, timeouts, access log), same
    Django settings and environment as the web container, the same number
    of workers, and as many CPUs as the container's CPU limit allows (as
    CPU affinity: the container's limit is a quota of time over all CPUs);
    only the bind address differs. The database is reached at the db container's address
    on the project's bridge network: the path the web container takes too,
    without a published port (and its proxy) that production does not have.
    """

    def __init__(self, root: Path, environment: dict[str, str], log: Path, cpus: set[int] | None):
        self.root = root
        self.port = free_port()
        self.environment = environment
        self.log = log
        self.cpus = cpus
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("native gunicorn is not running")
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        python = REPO_DIR / ".venv" / "bin" / "python"
        command = [
            str(python),
            "-m",
            "gunicorn",
            "--config",
            str(self.root / "docker" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--chdir",
            str(self.root / "app"),
            "config.wsgi",
        ]
        if self.cpus:
            # taskset (util-linux): the affinity holds from the first
            # instruction, before gunicorn.conf.py counts the CPUs.
            command = ["taskset", "--cpu-list", ",".join(map(str, sorted(self.cpus))), *command]
        env = {"PATH": os.environ["PATH"], "DJANGO_ENV_FILE": "/nonexistent", **self.environment}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"{self.url}/healthz", timeout=60)
        except RuntimeError:
            self.__exit__()
            raise RuntimeError(f"native gunicorn did not start; its log: {self.log}") from None
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
