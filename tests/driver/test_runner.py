"""The runner: files that cannot be opened are one line, before any process starts."""

import pytest

from driver.console import Refused
from driver.runner import TIMED_OUT, Runner


def test_an_unreadable_input_file_is_refused_before_anything_runs(tmp_path):
    argv = ["docker", "compose", "exec", "-T", "db", "pg_restore", "--list"]
    with pytest.raises(Refused, match=r"cannot open .*missing\.dump: No such file or directory"):
        Runner(tmp_path).run(argv, stdin=tmp_path / "missing.dump")


def test_a_process_runs_and_its_output_is_kept(tmp_path):
    done = Runner(tmp_path).run(["sh", "-c", "echo out; echo err >&2; exit 3"], quiet=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    assert Runner(tmp_path).run(["no-such-program-here"]).returncode == 127


def test_a_process_past_its_timeout_is_stopped(tmp_path):
    done = Runner(tmp_path).run(["sh", "-c", "echo started; exec sleep 30"], timeout=0.5)
    assert done.returncode == TIMED_OUT
    assert done.stdout == "started\n" and "timed out" in done.stderr
