"""The systemd unit of `run.sh install-service`, rendered from its template.
(tests/e2e/test_bad_input.py has systemd-analyze verify it.)"""

from pathlib import Path

from driver.service import stop_timeout, unit_text


def test_the_unit_starts_and_stops_production_from_the_repository():
    unit = unit_text("shop", Path("/srv/shop"), None, 185)
    assert "Description=Django stack shop (production, run.sh -0)\n" in unit
    assert "WorkingDirectory=/srv/shop\n" in unit
    assert "ExecStart=/bin/sh /srv/shop/run.sh -0\n" in unit
    assert "ExecStop=/bin/sh /srv/shop/run.sh -0 down\n" in unit
    assert "Requires=docker.service" in unit and "WantedBy=multi-user.target" in unit
    assert "TimeoutStopSec=185\n" in unit
    assert "Environment=" not in unit and "$" not in unit


def test_an_env_file_named_by_env_file_goes_into_the_unit():
    unit = unit_text("shop", Path("/srv/shop"), Path("/etc/shop/prod.env"), 185)
    assert "Environment=ENV_FILE=/etc/shop/prod.env\nExecStart=" in unit


def test_stopping_waits_for_the_workers_grace_or_webs_whichever_is_longer():
    assert stop_timeout("120", "30") == 120 + 5 + 60
    assert stop_timeout("20", "90") == 90 + 5 + 60
    assert stop_timeout("", "") == 30 + 5 + 60
