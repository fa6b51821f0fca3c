#!/usr/bin/env bash
# Set up (a virtual environment in .venv with the project) and show pbtyped at work:
#   1. the runtime API: PB's echo example, a server and a client in two processes;
#   2. the typed path of the guide's quick start (docs/guide/quickstart.md), in a fresh
#      folder: its schema, `pbtyped generate`, its server, and a typed call from its client;
#      then, when mypy is in .venv (scripts/test.sh puts it there), what mypy says of it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
venv=$PWD/.venv/bin

echo "##### 1. the runtime API: PB's echo example"
"$venv/python" examples/run_pair.py pbsimple

echo
echo "##### 2. the typed path: schema -> pbtyped generate -> server -> typed call"
work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
"$venv/python" scripts/doc_examples.py extract docs/guide/quickstart.md --into "$work" >/dev/null
cd "$work"

echo "=== schemas/greeter.py, the interface"
cat schemas/greeter.py
echo "=== pbtyped generate schemas/"
"$venv/pbtyped" generate schemas/
echo "=== what it generated for greet (gen/greeter.py)"
grep -E "^class |    async def greet|    def remote_greet" gen/greeter.py

echo "=== python server.py 0 (in the background), then python client.py PORT"
"$venv/python" server.py 0 >server.out 2>&1 &
server_pid=$!
port=""
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on port \([0-9][0-9]*\)$/\1/p' server.out)
    if [ -n "$port" ]; then
        break
    fi
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "the server did not start:" >&2
    cat server.out >&2
    exit 1
fi
"$venv/python" client.py "$port"

if [ -x "$venv/mypy" ]; then
    echo "=== mypy server.py client.py (strict, with truthy-bool: see pyproject.toml)"
    "$venv/mypy" server.py client.py
    echo "=== mypy quickstart_mistakes.py (each mistake refused at its line)"
    "$venv/mypy" quickstart_mistakes.py || true
else
    echo "(mypy is not in .venv: bash scripts/test.sh installs it, and this demo then shows"
    echo " mypy --strict checking the client and refusing the mistakes of the quick start)"
fi
