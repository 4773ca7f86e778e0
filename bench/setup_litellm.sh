#!/usr/bin/env bash
# Create bench/.venv-litellm with the LiteLLM proxy that bench/run.py compares against.
#
# The version is pinned exactly so that every run measures the same code. LiteLLM
# releases 1.82.7 and 1.82.8 on PyPI carried a credential stealer (March 2026), and
# 1.82.8 started it from a litellm_init.pth file: never change the pin to either.
# Usage: bash bench/setup_litellm.sh  (PYTHON=python3.12 to choose the interpreter)
set -euo pipefail

LITELLM_VERSION="1.108.7"
bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$bench_dir/.venv-litellm"
python="${PYTHON:-python3}"

installed_version() {
    "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))'
}

if [[ -x "$venv/bin/litellm" ]] && [[ "$(installed_version)" == "$LITELLM_VERSION" ]]; then
    echo "litellm $LITELLM_VERSION is already installed in $venv"
    exit 0
fi

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "litellm[proxy]==$LITELLM_VERSION"

# A .pth file runs code at every interpreter start. The venv should contain only the
# one that setuptools installs.
site_packages="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
unexpected="$(find "$site_packages" -maxdepth 1 -name '*.pth' ! -name 'distutils-precedence.pth')"
if [[ -n "$unexpected" ]]; then
    echo "unexpected .pth files in $site_packages, inspect them before running LiteLLM:" >&2
    echo "$unexpected" >&2
    exit 1
fi
echo "installed litellm $(installed_version) in $venv"
