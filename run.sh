#!/bin/sh
# (The next line ends in a comment so that it still runs when this file has CRLF line endings.)
if grep -q "$(printf '\r')" "$0"; then printf 'run.sh: %s has CRLF line endings; convert it: sed -i "s/\\r$//" %s (and git config core.autocrlf input)\n' "$0" "$0" >&2; exit 1; fi #
# run.sh: the one command of the stack. `sh run.sh help` lists modes and
# commands; the driver behind it is driver/ (Python, standard library only,
# so a server needs git, Docker and its own python3, and no pip).
set -eu

if ! command -v python3 >/dev/null 2>&1; then
  printf 'run.sh: python3 is not installed: install Python 3.9 or newer (Debian/Ubuntu: sudo apt-get install python3)\n' >&2
  exit 1
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
  printf 'run.sh: Python 3.9 or newer is needed; python3 is %s: install a newer python3\n' "$(python3 -V 2>&1)" >&2
  exit 1
fi

# From the repository (python3 -m puts the current folder first on the
# import path: never the caller's); paths the user gives stay relative to
# where they called it.
RUN_SH_CALLER_DIR="$PWD"
export RUN_SH_CALLER_DIR
cd "$(dirname "$0")"
exec python3 -m driver "$@"
