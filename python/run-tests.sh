#!/usr/bin/env bash
# CI's Python part: creates the venvs (git-ignored, under python/), installs the pinned packages
# from PyPI, builds the job jar if it is missing or stale, and runs the pytest suites:
#   python/tests   in python/.venv         (pyspark 4.1.0, numpy, the sparticle package)
#   airflow/tests  in python/.venv-airflow (apache-airflow + the Spark provider; spark-submit
#                                           comes from the first venv's pyspark)
# A suite that collects no tests (pytest exit 5) fails the run. PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

py="${PYTHON:-python3}"
venv=python/.venv
afvenv=python/.venv-airflow
t0=$SECONDS

step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - t0))"; }

step "venv $venv"
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r python/requirements-test.txt
# Installed, not editable: the tests run against the package as pip builds it.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall ./python

step "venv $afvenv"
[[ -x "$afvenv/bin/python" ]] || "$py" -m venv "$afvenv"
"$afvenv/bin/python" -m pip install -q --disable-pip-version-check -r airflow/requirements.txt

step "job jar"
# The launcher rebuilds the jar (and the embedded classpath) when a source is newer.
submit/sparticle --version

spark_home="$("$venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"

run_pytest() {
  local rc=0
  "$@" || rc=$?
  if [[ $rc -eq 5 ]]; then
    echo "run-tests: pytest collected no tests: $*" >&2
    exit 1
  fi
  [[ $rc -eq 0 ]] || exit "$rc"
}

step "pytest python/tests"
run_pytest "$venv/bin/python" -m pytest -p no:cacheprovider -ra python/tests

step "pytest airflow/tests"
SPARTICLE_SPARK_HOME="$spark_home" \
  run_pytest "$afvenv/bin/python" -m pytest -p no:cacheprovider -ra airflow/tests

step "done"
