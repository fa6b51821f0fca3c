#!/usr/bin/env bash
# Set up (a virtual environment in .venv with the project and its dev tools) and run every check:
# ruff, mypy --strict, the generator's --check, the docs build, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
echo "== ruff"
.venv/bin/ruff check pbtyped tests examples gen scripts
echo "== mypy --strict"
.venv/bin/mypy pbtyped examples
echo "== complexity (the worst ten; none over 60 lines or cyclomatic complexity 20)"
.venv/bin/python scripts/complexity.py pbtyped --enforce
echo "== pbtyped generate --check"
.venv/bin/pbtyped generate --check schemas/
.venv/bin/mypy gen
echo "== docs: mkdocs build --strict (the guide and the API reference; a broken link or reference fails)"
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
.venv/bin/mkdocs build --strict --quiet --site-dir "$site"
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
echo "== HAProxy in front of two pbtyped serve instances, through a rolling restart (installs haproxy if missing)"
.venv/bin/python scripts/balancer_check.py
