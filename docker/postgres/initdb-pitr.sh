#!/bin/sh
# Run by the postgres image's entrypoint on a new data directory, with its
# temporary server up: the new cluster archives its WAL from the start.
set -eu
exec pgbackrest-pitr setup
