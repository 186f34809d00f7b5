"""The table of bad command lines, written once: the driver's own tests
run it in process without Docker (tests/driver/test_cli.py), and the
end-to-end tests run it through the real launcher under dash
(tests/e2e/test_bad_input.py). Each must exit 2 with this line and the usage."""

USAGE_ERRORS = [
    (["--bogus"], "unknown mode or command: --bogus"),
    (["-9"], "unknown mode or command: -9"),
    (["deploy"], "unknown mode or command: deploy"),
    (["-0", "--bogus"], "unknown option for prod: --bogus"),
    (["-1", "-s", "extra"], "unknown option for dev: extra"),
    (["manage"], "manage needs a manage.py command"),
    (["superuser", "extra"], "superuser takes no arguments"),
    (["backup", "extra"], "backup takes no arguments but --verify [FILE]"),
    (["backup", "--verify", "a.dump", "b.dump"], "backup --verify takes at most one FILE"),
    (["restore"], "restore needs a backup FILE"),
    (["restore", "a.dump", "b.dump"], "restore takes one FILE; got a.dump and b.dump"),
    (["-0", "restore", "--force", "a.dump"], "unknown option for restore: --force"),
    (["-0", "restore", "--time"], "restore --time needs a TIME"),
    (
        ["-0", "restore", "a.dump", "--time", "latest"],
        "restore takes a backup FILE or --time TIME, not both",
    ),
    (["backup", "--list-bucket", "extra"], "backup takes no arguments but --verify [FILE] or"),
    (["-0", "restore", "--from-bucket"], "restore --from-bucket needs a NAME"),
    (
        ["-0", "restore", "--from-bucket", "../x.dump"],
        "restore --from-bucket takes a backup's NAME",
    ),
    (
        ["-0", "restore", "--identity", "key.txt", "a.dump"],
        "restore --identity goes with --from-bucket",
    ),
    (["-0", "restore", "--from-bucket", "a.dump", "--identity"], "restore --identity needs a FILE"),
    (
        ["-0", "restore", "a.dump", "--from-bucket", "prod-app-20260101T000000Z.dump"],
        "restore takes a backup FILE or --from-bucket NAME, not both",
    ),
    (
        ["-0", "restore", "--archive-from-bucket", "a.dump"],
        "restore --archive-from-bucket goes with --time TIME",
    ),
    (["swarm"], "swarm takes one of: deploy, config, status, backup, rm"),
    (["swarm", "up"], "swarm takes one of: deploy, config, status, backup, rm"),
    (["swarm", "deploy", "--yes"], "unknown option for swarm deploy: --yes"),
    (["swarm", "rm", "--allow-breaking"], "unknown option for swarm rm: --allow-breaking"),
    (["doctor", "extra"], "doctor takes no arguments"),
    (["install-service", "--now"], "unknown option for install-service: --now"),
    (["lint", "extra"], "lint takes no arguments"),
    (["reset", "extra"], "reset takes no arguments"),
    (["help", "a", "b"], "help takes at most one COMMAND"),
    (["help", "deploy"], "no such command: deploy"),
]
