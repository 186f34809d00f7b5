"""The benchmark's parsing and reporting (tools/bench/): what it reads from wrk,
BuildKit and Docker, and how it judges the budget. The measurements
themselves run with `sh run.sh bench`, never in the tests."""

import argparse
from pathlib import Path

import pytest

from tools.bench.__main__ import _setting
from tools.bench.budget import budget
from tools.bench.image import base_image
from tools.bench.load import parse_wrk
from tools.bench.recovery import (
    archiving_off,
    du_bytes,
    load_cost,
    loss,
    lost_window,
    summarise_rpo,
)
from tools.bench.report import render
from tools.bench.startup import first_healthy, parse_deps_reused
from tools.bench.throughput import ratios, summarise

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:8000/healthz
  2 threads and 16 connections
Requests/sec:   2000.00
WRK_JSON {"requests": 6000, "duration_us": 3000000, "bytes": 100, "non2xx": 3, \
"errors": {"connect": 1, "read": 2, "write": 0, "status": 3, "timeout": 4}, \
"latency_us": {"p50": 1500, "p90": 4000, "p99": 12345, "max": 50000, "mean": 1800.5}}
"""


def test_parse_wrk_reads_the_script_line_in_report_units():
    result = parse_wrk(WRK_OUTPUT)
    assert result["rps"] == 2000.0
    assert result["p50_ms"] == 1.5
    assert result["p99_ms"] == 12.35
    assert result["non2xx"] == 3
    # Socket errors: connect + read + write + timeout; status errors are
    # counted among the non-2xx.
    assert result["socket_errors"] == 7


def test_parse_wrk_without_the_script_line_fails_loudly():
    with pytest.raises(RuntimeError, match="WRK_JSON"):
        parse_wrk("Running 3s test\nRequests/sec: 10\n")


BUILD_REUSED = """#7 [web deps 4/4] RUN --mount=type=cache,target=/root/.cache/pip     pip --python /venv/bin/python install -r /tmp/requirements.txt
#7 CACHED

#8 [web runtime 8/9] COPY app/ /app/
#8 DONE 0.1s
"""
BUILD_REBUILT = """#7 [web deps 4/4] RUN --mount=type=cache,target=/root/.cache/pip     pip --python /venv/bin/python install -r /tmp/requirements.txt
#7 1.234 Collecting Django==5.2.19
#7 DONE 12.3s

#8 [web runtime 3/9] COPY --from=deps /venv /venv
#8 CACHED
"""


def test_parse_deps_reused_follows_the_pip_step_number():
    assert parse_deps_reused(BUILD_REUSED) is True
    assert parse_deps_reused(BUILD_REBUILT) is False
    assert parse_deps_reused("#1 [web internal] load build definition\n#1 DONE 0.0s\n") is None


def _check(end: str, code: int) -> dict:
    return {"End": f"2026-01-01T00:00:{end}Z", "ExitCode": code}


def test_first_healthy_ignores_a_log_that_may_have_lost_its_first_pass():
    assert first_healthy(
        [_check("01.5", 1), _check("03.5", 0), _check("05.5", 0)]
    ) == pytest.approx(1767225603.5)
    assert first_healthy([_check("01.5", 0), _check("03.5", 0)]) == pytest.approx(1767225601.5)
    full = [_check(f"0{second}.0", 0) for second in range(1, 6)]
    assert first_healthy(full) is None
    assert first_healthy([_check("01.0", 1)]) is None


def _run(
    target: str, endpoint: str, connections: int, rps: float, p99: float, non2xx: int = 0
) -> dict:
    return {
        "target": target,
        "endpoint": endpoint,
        "connections": connections,
        "rps": rps,
        "p50_ms": p99 / 3,
        "p99_ms": p99,
        "non2xx": non2xx,
        "socket_errors": 0,
    }


def test_summarise_takes_medians_and_sums_errors_and_ratios_pair_targets():
    runs = [
        _run("container", "items", 16, 900, 10, non2xx=1),
        _run("container", "items", 16, 1000, 12),
        _run("container", "items", 16, 1100, 30, non2xx=2),
        _run("native", "items", 16, 1000, 9),
        _run("runserver", "items", 16, 200, 50),
    ]
    summary = summarise(runs)
    assert summary["container"]["items"]["16"]["rps"] == 1000
    assert summary["container"]["items"]["16"]["p99_ms"] == 12
    assert summary["container"]["items"]["16"]["non2xx"] == 3
    assert ratios(summary) == {
        "container/native": {"items": {"16": 1.0}},
        "gunicorn/runserver": {"items": {"16": 5.0}},
    }


def _row(rps: float, p99: float) -> dict:
    return {
        "rps": rps,
        "p50_ms": p99 / 3,
        "p99_ms": p99,
        "non2xx": 0,
        "socket_errors": 0,
        "reps": 1,
    }


def _result() -> dict:
    """A complete result, as `python -m bench` writes it (fewer runs)."""
    return {
        "started_at": "2026-01-01T00:00:00Z",
        "quick": False,
        "machine": {"cpus_usable": 2, "cpu_model": "test CPU", "memory_gib": 4.0},
        "startup": {
            "cold_s": {"median": 9.0, "runs": [9.0]},
            "warm_s": {"median": 2.5, "runs": [2.5]},
            "warm_phases": [{"db_started": 0.5, "web_healthy": 2.4}],
            "noop_redeploy_s": {"median": 1.5, "runs": [1.5]},
            "down_s": {"median": 1.0, "runs": [1.0]},
        },
        "rebuild": {
            "code_only": {
                "build_s": {"median": 3.0},
                "restart_s": {"median": 9.0},
                "total_s": {"median": 12.0},
                "deps_reused": [True],
            }
        },
        "image": {
            "image_bytes": 242_000_000,
            "base": "python:3.13-slim",
            "base_bytes": 193_000_000,
            "added_bytes": 49_000_000,
            "added_layers": [{"bytes": 45_000_000, "step": "COPY /venv /venv # buildkit"}],
        },
        "http": {
            "seconds": 10,
            "reps": 1,
            "summary": {
                "container": {"items": {"16": _row(950, 25.0), "64": _row(850, 70.0)}},
                "native": {"items": {"16": _row(1000, 20.0), "64": _row(1000, 60.0)}},
            },
            "ratios": {"container/native": {"items": {"16": 0.95, "64": 0.85}}},
            "soak": {"seconds": 30.0, "rps": 800, "p99_ms": 70.0, "non2xx": 0, "socket_errors": 0},
        },
    }


def test_budget_judges_each_line_and_leaves_the_unmeasured_open():
    rows = {row["line"]: row for row in budget(_result())}
    assert rows["warm `run.sh -0` to healthy"]["ok"] is True
    assert rows["code-only prod rebuild + restart"]["ok"] is False
    assert rows["layers added over the python base"]["measured"] == 49.0
    assert rows["container/native req/s, items, 16 conns"]["ok"] is True
    assert rows["container/native req/s, items, 64 conns"]["ok"] is False
    assert rows["p99, items, 16 conns (container)"]["ok"] is False
    assert rows["p99, items, 64 conns (container)"]["ok"] is True
    assert rows["errors at 64 conns for 30 s (items, container)"]["ok"] is True
    assert rows["dev autoreload picks up a change"]["ok"] is None
    assert rows["`run.sh test` warm (no e2e)"]["ok"] is None


def test_a_short_error_run_does_not_count_as_the_30_second_budget():
    result = _result()
    result["http"]["soak"] = {"seconds": 5.0, "non2xx": 0, "socket_errors": 0}
    rows = {row["line"]: row for row in budget(result)}
    assert rows["errors at 64 conns for 5 s (items, container)"]["ok"] is None


def test_render_shows_the_verdicts():
    text = render(_result())
    assert "| warm `run.sh -0` to healthy | ≤ 3 s | 2.50 s | met |" in text
    assert "| code-only prod rebuild + restart | ≤ 10 s | 12.0 s | **missed** |" in text
    assert "deps layer reused: yes" in text
    assert "not measured" in text


def test_base_image_is_the_final_stage(tmp_path: Path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM python:3.13-slim AS deps\nRUN true\nFROM python:3.13-slim AS runtime\n"
    )
    assert base_image(dockerfile) == "python:3.13-slim"


def test_set_takes_only_name_equals_value():
    assert _setting("GUNICORN_THREADS=4") == "GUNICORN_THREADS=4"
    for bad in ("GUNICORN_THREADS", "lower=1", "=4"):
        with pytest.raises(argparse.ArgumentTypeError):
            _setting(bad)


def _with_deploys(count: int, failed: int = 0) -> dict:
    result = _result()
    result["deploys"] = {
        "deploys": count,
        "failed_deploys": 0,
        "failed_requests": failed,
        "wall_s": {"median": 9.5, "max": 11.0},
        "ready_to_served_s": {"median": 0.6, "max": 1.1},
        "p99_ms": {"steady": 40.0, "deploying": 140.0},
    }
    return result


def test_the_deploy_lines_judge_drops_speed_and_latency():
    rows = {row["line"]: row for row in budget(_with_deploys(20))}
    assert rows["failed requests over 20 deploys under load"]["ok"] is True
    assert rows["new web ready → its first request served (max)"]["ok"] is True
    assert rows["code-only deploy, wall time (median)"]["ok"] is True
    p99 = rows["p99 of items during deploys vs steady"]
    assert p99["target"] == "≤ 2× + 50 ms (130.0 ms)"
    assert p99["ok"] is False
    failing = {row["line"]: row for row in budget(_with_deploys(20, failed=1))}
    assert failing["failed requests over 20 deploys under load"]["ok"] is False


def test_fewer_than_20_deploys_do_not_count_as_the_zero_drop_line():
    rows = {row["line"]: row for row in budget(_with_deploys(3))}
    assert rows["failed requests over 3 deploys under load"]["ok"] is None


def test_the_proxy_lines_compare_it_with_gunicorn_straight():
    result = _result()
    result["http"]["ratios"]["proxy/direct"] = {"items": {"16": 0.93, "64": 0.8}}
    result["http"]["summary"]["container"]["items"]["16"].update(
        server_cpu_ms=1.0, proxy_cpu_ms=0.2
    )
    result["http"]["summary"]["direct"] = {
        "items": {"16": {**_row(1000, 20.0), "server_cpu_ms": 0.9}}
    }
    rows = {row["line"]: row for row in budget(result)}
    assert rows["through proxy/straight to gunicorn req/s, items, 16 conns"]["ok"] is True
    assert rows["through proxy/straight to gunicorn req/s, items, 64 conns"]["ok"] is False
    assert rows["CPU per request, straight/through proxy, items, 16 conns"]["measured"] == 0.75


def test_render_shows_the_upload_figures():
    serve = {"file_bytes": 100_000, "seconds": 10, "reps": 3}
    serve["16"] = {"rps": 1234.5, "mb_s": 123.5, "p99_ms": 40.25, "errors": 0}
    backup = {"rows": 100_000, "files": 1000, "file_bytes": 100_000}
    backup |= {"backup_s": 3.25, "restore_s": 9.5}
    text = render({**_result(), "media": {"serve": serve, "backup": backup}})
    assert "through the proxy (wrk, 10 s): 16 conns 1234 req/s (124 MB/s), p99 40.2 ms" in text
    assert (
        "1,000 files of 100 kB beside 100,000 rows: `backup` 3.2 s, `restore --yes` 9.5 s" in text
    )


def test_render_shows_the_task_figures():
    runs = [{"workers": w, "tasks": 1000, "seconds": 1.0, "per_s": r} for w, r in
            ((1, 300.0), (1, 320.5), (1, 310.0), (2, 520.0))]  # fmt: skip
    latency = {"tasks": 50, "gap_s": 0.3, "p50_ms": 480.4, "p99_ms": 990.0, "max_ms": 1001.0}
    text = render({**_result(), "tasks": {"runs": runs, "latency": latency, "memory_mib": 61.2}})
    assert "| no-op tasks per second, 1 worker (1000 tasks) | 310 | 300.0, 320.5, 310.0 |" in text
    assert "| no-op tasks per second, 2 workers (1000 tasks) | 520 |" in text
    assert "| p50 480 ms, p99 990 ms | max 1001 ms |" in text
    assert "| a worker's memory at rest | 61 MiB | |" in text


def test_loss_counts_the_acknowledged_rows_missing_and_how_far_back_they_go():
    names = ["a", "b", "c", "d", "e"]
    at = [10.0, 11.0, 12.5, 12.0, 13.0]  # d committed before c, acknowledged after
    result = loss(names, at, recovered={"a", "b", "c", "x"}, destroyed_at=14.0)
    assert result["acknowledged"] == 5
    assert result["lost"] == 2
    assert result["rpo_s"] == 1.5  # from c, the last acknowledged row that came back
    assert result["oldest_lost_s"] == 2.0  # d
    assert result["last_acknowledged_s"] == 1.0
    assert result["lost_before_kept"] == 1
    nothing = loss(names, at, recovered=set(names), destroyed_at=14.0)
    assert nothing["lost"] == 0 and nothing["oldest_lost_s"] is None and nothing["rpo_s"] == 1.0
    everything = loss(names, at, recovered=set(), destroyed_at=14.0)
    assert everything["rpo_s"] is None and everything["oldest_lost_s"] == 4.0


def test_archiving_off_changes_only_the_archive_mode():
    command = ["postgres", "-c", "archive_mode=on", "-c", "archive_timeout=60"]
    assert archiving_off(command) == [
        "postgres",
        "-c",
        "archive_mode=off",
        "-c",
        "archive_timeout=60",
    ]
    with pytest.raises(RuntimeError, match="archiving on"):
        archiving_off(["postgres"])


def test_du_and_the_load_figures_per_minute():
    assert du_bytes("123456\t/var/lib/pgbackrest\n") == 123456
    run = {"archiving": True, "seconds": 30, "rows": 1500, "db_cpu_s": 6.0,
           "archiver_cpu_s": 0.5, "archive_bytes": 3_000_000}  # fmt: skip
    cost = load_cost(run)
    assert cost["rows_per_min"] == 3000
    assert cost["db_cpu_per_min"] == 12.0
    assert cost["archiver_cpu_per_min"] == 1.0
    assert cost["archive_bytes_per_min"] == 6_000_000
    assert cost["db_cpu_ms_per_row"] == 4.0
    off = load_cost({**run, "archiving": False, "archiver_cpu_s": None, "archive_bytes": None})
    assert "archiver_cpu_per_min" not in off and "archive_bytes_per_min" not in off


def _with_recovery(rpos: list[float | None]) -> dict:
    runs = [{"delay_s": 30.0, "restore_s": 20.0 + n, "acknowledged": 1000, "lost": 40,
             "rpo_s": rpo, "oldest_lost_s": None if rpo is None else rpo + 0.2,
             "last_acknowledged_s": 0.1, "lost_before_kept": 0}
            for n, rpo in enumerate(rpos)]  # fmt: skip
    on = load_cost({"archiving": True, "seconds": 60, "rows": 6000, "db_cpu_s": 9.0,
                    "archiver_cpu_s": 0.6, "archive_bytes": 2_500_000})  # fmt: skip
    off = load_cost({"archiving": False, "seconds": 60, "rows": 6100, "db_cpu_s": 8.0,
                     "archiver_cpu_s": None, "archive_bytes": None})  # fmt: skip
    rest = {"seconds": 60, "archive_bytes": 50_000, "segments": 1,
            "archive_bytes_per_hour": 3_000_000}  # fmt: skip
    return {
        **_result(),
        "recovery": {
            "wal_archive_timeout_s": 60,
            "rows": 100_000,
            "base_backup_s": 4.25,
            "to_moment": {
                "runs": [{"rows": 100_000, "restore_s": 25.5}],
                "restore_s": {"median": 25.5},
            },
            "lost_volume": {"runs": runs, **summarise_rpo(runs)},
            "cost": {"at_rest": rest, "load": [on, off]},
            "archive_total_bytes": 40_000_000,
        },
    }


def test_summarise_rpo_takes_the_median_and_the_worst():
    summary = _with_recovery([12.0, 58.5, 30.0, None])["recovery"]["lost_volume"]
    assert summary["rpo_s"] == {"median": 30.2, "max": 58.7}  # back to the oldest lost row
    assert summary["lost"] == 160 and summary["acknowledged"] == 4000
    assert summary["restore_s"] == {"median": 21.5}


def test_a_loss_before_any_segment_switch_counts_the_whole_load():
    everything = {"rpo_s": None, "oldest_lost_s": 37.2, "lost": 349, "acknowledged": 349}
    assert lost_window(everything) == 37.2
    assert lost_window({"rpo_s": 5.04, "oldest_lost_s": 4.61}) == 5.04
    assert lost_window({"rpo_s": 1.0, "oldest_lost_s": None}) == 1.0


def test_the_rpo_line_is_judged_against_wal_archive_timeout():
    line = "acknowledged writes lost with the data volume (RPO, max of 3)"
    rows = {row["line"]: row for row in budget(_with_recovery([12.0, 58.5, 30.0]))}
    assert rows[line]["target"] == "≤ 60 s (WAL_ARCHIVE_TIMEOUT)"
    assert rows[line]["ok"] is True
    late = {row["line"]: row for row in budget(_with_recovery([12.0, 61.0, 30.0]))}
    assert late[line]["ok"] is False
    assert "RPO" not in "".join(row["line"] for row in budget(_result()))


def test_render_shows_the_recovery_figures():
    text = render(_with_recovery([12.0, 58.5, 30.0]))
    assert "## Point-in-time recovery (WAL_ARCHIVE_TIMEOUT=60 s)" in text
    assert "`restore --time latest --yes` (3 runs): 120 of 3,000 acknowledged rows lost" in text
    assert "acknowledged 12.0 s, 58.5 s, 30.0 s before the destruction" in text
    assert "100,000 rows: base backup 4.25 s; `restore --time MOMENT --yes`" in text
    assert "| db CPU under that load, s per minute | 9.00 | 8.00 |" in text
    assert "| db CPU per row written, ms | 1.50 | 1.31 |" in text
    assert "| archive growth under that load, per minute | 2.50 MB | – |" in text
    assert "(60 s, 1 segment archived), per hour | 3.00 MB | – |" in text
