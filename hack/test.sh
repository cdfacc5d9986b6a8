#!/usr/bin/env bash
# The whole test command: install, then lint, types, import contracts and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== import contracts"; lint-imports
echo "== pytest"
set +e
pytest "$@"
rc=$?
set -e
# Exit 5 means pytest collected no test: that is a failure of the suite, not a pass.
if [[ $rc -eq 5 ]]; then echo "pytest collected no tests" >&2; exit 1; fi
exit $rc
