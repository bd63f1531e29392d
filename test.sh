#!/bin/sh
# Run every check CI runs: set up .venv with the test dependencies, then ruff, mypy, pytest.
set -eu
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check tokentag tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
