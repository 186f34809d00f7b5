"""The WAL archive's copy in the backups' bucket (BACKUP_S3_*, over HTTPS,
encrypted with WAL_ARCHIVE_CIPHER_PASS), on a production stack of its own
with a SeaweedFS S3 server of the test's (its certificate from a CA the
test makes): every base backup and segment reaches the bucket, and with the
data and the archive volumes both destroyed, `restore --time latest` brings
the database back from the bucket alone."""

import json
import secrets
import subprocess
import time

import pytest
import yaml

from tools.throwaway import production_settings

pytestmark = pytest.mark.e2e

KEY, SECRET = "offsite-admin", secrets.token_urlsafe(24)


def make_tls(folder) -> None:
    """A CA, and a certificate it signs for the host name `offsite`."""
    folder.mkdir()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
            "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=offsite",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=DNS:offsite\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem")  # fmt: skip
    for path in folder.iterdir():
        path.chmod(0o644)  # the server's own user reads them


def add_offsite_server(stack) -> None:
    """The S3 server (HTTPS on 8443, bucket `wal`) in the copy's
    compose.override.yml, and the CA in db, which starts after it."""
    path = stack.root / "compose.override.yml"
    override = yaml.safe_load(path.read_text()) if path.exists() else {}
    services = override.setdefault("services", {}) or {}
    override["services"] = services
    services["offsite"] = {
        "image": "chrislusf/seaweedfs:4.48",
        "command": [
            *("mini", "-dir=/data", "-bucket=wal", "-s3.port=8333", "-s3.port.https=8443"),
            *("-s3.cert.file=/tls/server.pem", "-s3.key.file=/tls/server.key"),
            *("-master.telemetry=false", "-admin.ui=false"),
            *("-s3.port.iceberg=0", "-s3.port.lance=0"),
        ],
        "environment": {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET},
        "healthcheck": {
            "test": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8888/buckets/wal/"],
            "interval": "2s",
            "retries": 60,
        },
        # A named volume: the bucket outlives `down`, as a provider's would.
        "volumes": ["./offsite-tls:/tls:ro", "offsite-data:/data"],
    }
    override.setdefault("volumes", {})["offsite-data"] = {}
    db = services.setdefault("db", {})
    db["depends_on"] = {"offsite": {"condition": "service_healthy"}}
    db["volumes"] = ["./offsite-tls/ca.pem:/etc/offsite-ca.pem:ro"]
    path.write_text(yaml.safe_dump(override))


@pytest.fixture(scope="module")
def site(own_stack):
    make_tls(own_stack.root / "offsite-tls")
    add_offsite_server(own_stack)
    own_stack.write_env(
        **production_settings(
            WAL_ARCHIVE_TIMEOUT="5",
            BACKUP_S3_BUCKET="wal",
            BACKUP_S3_ENDPOINT_URL="https://offsite:8443",
            BACKUP_S3_ACCESS_KEY_ID=KEY,
            BACKUP_S3_SECRET_ACCESS_KEY=SECRET,
            BACKUP_S3_CA_FILE="/etc/offsite-ca.pem",
            WAL_ARCHIVE_CIPHER_PASS=secrets.token_urlsafe(24),
        )
    )
    own_stack.run_sh("-0")
    return own_stack


def pitr(site, *args: str) -> str:
    argv = ["exec", "-T", "--user", "postgres", "db", "pgbackrest-pitr", *args]
    return site.compose("prod", *argv).stdout


def test_base_backups_and_segments_reach_the_bucket_encrypted(site):
    stanza = pitr(site, "stanza").strip()
    info = {s["name"]: s for s in json.loads(pitr(site, "run", "info", "--output=json"))}
    repos = {repo["key"]: repo for repo in info[stanza]["repo"]}
    assert repos[2]["cipher"] == "aes-256-cbc" and repos[2]["status"]["message"] == "ok"
    assert {b["database"]["repo-key"] for b in info[stanza]["backup"]} == {1, 2}


def test_with_every_local_copy_lost_the_bucket_brings_the_database_back(site):
    site.psql("prod", "CREATE TABLE offsite_drill AS SELECT generate_series(1, 1000) AS n")
    segment = site.psql("prod", "SELECT pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + 60
    while site.psql("prod", "SELECT last_archived_wal FROM pg_stat_archiver") < segment:
        assert time.monotonic() < deadline, f"{segment} not archived within 60 s"
        time.sleep(1)

    site.run_sh("-0", "down")
    volumes = [f"{site.project}_db-prod-data", f"{site.project}_db-prod-wal"]
    subprocess.run(["docker", "volume", "rm", *volumes], check=True, capture_output=True)
    result = site.run_sh("-0", "restore", "--time", "latest", "--yes")
    assert "back as it was at the end of its archive" in result.stderr
    assert site.psql("prod", "SELECT count(*), sum(n) FROM offsite_drill") == "1000|500500"
