"""The budget (issue 5 and the lines added since) checked against a result:
one row per line, its target, what was measured and whether it holds
(report.py renders them)."""

MB = 1_000_000


def get(data: dict, *keys):
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _line(line: str, target: str, measured, unit: str, ok) -> dict:
    return {"line": line, "target": target, "measured": measured, "unit": unit, "ok": ok}


def _at_most(value, limit):
    return None if value is None else value <= limit


def _at_least(value, limit):
    return None if value is None else value >= limit


def budget(result: dict) -> list[dict]:
    """One row per budget line; ok is None when it was not measured."""
    warm = get(result, "startup", "warm_s", "median")
    rebuild = get(result, "rebuild", "code_only", "total_s", "median")
    reload = get(result, "devloop", "autoreload_s", "median")
    added = get(result, "image", "added_bytes")
    added_mb = None if added is None else round(added / MB, 1)
    tests = get(result, "devloop", "test_s", "median")
    rows = [
        _line("warm `run.sh -0` to healthy", "≤ 3 s", warm, "s", _at_most(warm, 3)),
        _line("code-only prod rebuild + restart", "≤ 10 s", rebuild, "s", _at_most(rebuild, 10)),
        _line("dev autoreload picks up a change", "≤ 2 s", reload, "s", _at_most(reload, 2)),
        _line(
            "layers added over the python base", "≤ 60 MB", added_mb, "MB", _at_most(added_mb, 60)
        ),
    ]
    rows += _ratio_lines(result, "container/native", 0.9)
    rows += _ratio_lines(result, "gunicorn/runserver", 5)
    soak = get(result, "http", "soak")
    if soak:
        errors = soak["non2xx"] + soak["socket_errors"]
        long_enough = soak["seconds"] >= 29.5
        rows.append(
            _line(
                f"errors at 64 conns for {soak['seconds']:.0f} s (items, container)",
                "0 over 30 s",
                errors,
                "",
                errors == 0 if long_enough else None,
            )
        )
    for connections, limit in (("64", 75), ("16", 20)):
        p99 = get(result, "http", "summary", "container", "items", connections, "p99_ms")
        rows.append(
            _line(
                f"p99, items, {connections} conns (container)",
                f"≤ {limit} ms",
                p99,
                "ms",
                _at_most(p99, limit),
            )
        )
    rows.append(_line("`run.sh test` warm (no e2e)", "≤ 15 s", tests, "s", _at_most(tests, 15)))
    return rows + _proxy_lines(result) + _deploy_lines(result) + _recovery_lines(result)


def _ratio_lines(result: dict, pair: str, minimum: float, label: str = "") -> list[dict]:
    """A req/s ratio of the items endpoint (throughput.ratios), per connection count."""
    rows = []
    for connections in ("16", "64"):
        ratio = get(result, "http", "ratios", pair, "items", connections)
        rows.append(
            _line(
                f"{label or pair} req/s, items, {connections} conns",
                f"≥ {minimum:g}",
                ratio,
                "×",
                _at_least(ratio, minimum),
            )
        )
    return rows


def _proxy_lines(result: dict) -> list[dict]:
    """What the proxy costs: the same container through it and around it."""
    rows = _ratio_lines(result, "proxy/direct", 0.9, "through proxy/straight to gunicorn")
    through = get(result, "http", "summary", "container", "items", "16")
    direct = get(result, "http", "summary", "direct", "items", "16")
    cpu_ratio = None
    if through and direct and through.get("server_cpu_ms") and direct.get("server_cpu_ms"):
        total = through["server_cpu_ms"] + (through.get("proxy_cpu_ms") or 0)
        cpu_ratio = round(direct["server_cpu_ms"] / total, 2)
    rows.append(
        _line(
            "CPU per request, straight/through proxy, items, 16 conns",
            "≥ 0.9",
            cpu_ratio,
            "×",
            _at_least(cpu_ratio, 0.9),
        )
    )
    return rows


def _deploy_lines(result: dict) -> list[dict]:
    """Deploys under load (tools/bench/deploys.py)."""
    deploys = result.get("deploys")
    if not deploys:
        return []
    count = deploys["deploys"]
    failed = deploys["failed_requests"] + deploys["failed_deploys"]
    wall = get(deploys, "wall_s", "median")
    served = get(deploys, "ready_to_served_s", "max")
    steady = get(deploys, "p99_ms", "steady")
    during = get(deploys, "p99_ms", "deploying")
    limit = None if steady is None else round(2 * steady + 50, 1)
    return [
        _line(
            f"failed requests over {count} deploys under load",
            "0 over 20",
            failed,
            "",
            failed == 0 if count >= 20 else None,
        ),
        _line(
            "new web ready → its first request served (max)",
            "≤ 2 s",
            served,
            "s",
            _at_most(served, 2),
        ),
        _line("code-only deploy, wall time (median)", "≤ 10 s", wall, "s", _at_most(wall, 10)),
        _line(
            "p99 of items during deploys vs steady",
            "≤ 2× + 50 ms" + (f" ({limit} ms)" if limit else ""),
            during,
            "ms",
            None if limit is None else _at_most(during, limit),
        ),
    ]


def _recovery_lines(result: dict) -> list[dict]:
    """The recovery point a lost data volume costs (tools/bench/recovery.py),
    against the bound compose.yml gives it: WAL_ARCHIVE_TIMEOUT."""
    recovery = result.get("recovery")
    if not recovery:
        return []
    timeout = recovery["wal_archive_timeout_s"]
    runs = len(recovery["lost_volume"]["runs"])
    worst = get(recovery, "lost_volume", "rpo_s", "max")
    return [
        _line(
            f"acknowledged writes lost with the data volume (RPO, max of {runs})",
            f"≤ {timeout} s (WAL_ARCHIVE_TIMEOUT)",
            worst,
            "s",
            _at_most(worst, timeout),
        )
    ]
