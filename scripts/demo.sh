#!/usr/bin/env bash
# Set up (a virtual environment in .venv with the project) and run the echo demo:
# a server and a client in two processes on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/python examples/run_pair.py pbsimple
