#!/bin/sh
# Run every check CI runs: set up .venv with the test dependencies, then ruff, mypy, pytest
# with coverage (of tokentag's own subprocesses too), which fails under the floor set in
# pyproject.toml. Targeted runs: .venv/bin/python -m pytest tests/test_x.py
set -eu
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# compat: a plain .pth path entry; the default editable finder adds ~9 ms to every hook
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --config-settings editable_mode=compat -e '.[test]'
.venv/bin/ruff check tokentag tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest --cov --cov-report=term-missing:skip-covered "$@"
