#!/bin/bash
# .ci/test.sh -- install everything and run the whole test suite (as root).
# This is the README's second command; .ci/run (CI) calls it.
set -uo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
bash "$HERE/.ci/install.sh" --tests || exit 1
cd "$HERE"
/opt/pycontainer/bin/python -m pytest -q -p no:cacheprovider tests "$@"
