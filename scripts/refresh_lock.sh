#!/usr/bin/env bash
# Refresh requirements/lock.txt (run by `make lock`): build a fresh virtual environment, resolve the
# pyproject ranges anew (only torch/torchvision pinned), run the default test suite in it and, only if it
# passes, write the resolved set (`pip freeze`, without this package) to requirements/lock.txt.
# Takes ~10 min (the install ~6). A failing suite leaves the old lock in place: exclude the release that
# broke it in pyproject.toml (with a comment saying why), then rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
EXTRAS="dev,train,gen,lmms"
LOCK=requirements/lock.txt
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mg-eval-lock.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

"$PYTHON" -m venv "$tmp/venv"
pip=("$tmp/venv/bin/python" -m pip)
"${pip[@]}" install -q $TORCH_PINS
"${pip[@]}" install -q -e ".[$EXTRAS]"
if ! HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 "$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider; then
    echo "refresh_lock: the default test suite fails on a fresh resolve; $LOCK is unchanged." >&2
    echo "refresh_lock: find the release that broke it, exclude it in pyproject.toml, rerun make lock." >&2
    exit 1
fi
{
    echo "# The whole resolved dependency set that passes the default test suite ($("$tmp/venv/bin/python" -c 'import platform; print("Python", platform.python_version(), platform.system(), platform.machine())')), written by"
    echo "# scripts/refresh_lock.sh (\`make lock\`) on $(date -u +%Y-%m-%d). \`make install\` and .ci/run install through it"
    echo "# as constraints (pip install -c $LOCK ...): platform-only wheels (nvidia-*) are pinned but only used where"
    echo "# torch needs them. Do not edit by hand; exclude a broken release in pyproject.toml and rerun make lock."
    "${pip[@]}" freeze --all --exclude-editable | grep -v -i -E '^(pip|mini-gemini-eval|mini_gemini_eval)([=@ ]|$)'
} > "$tmp/lock.txt"
mv "$tmp/lock.txt" "$LOCK"
echo "refresh_lock: wrote $LOCK ($(grep -c '==' "$LOCK") pins)"
