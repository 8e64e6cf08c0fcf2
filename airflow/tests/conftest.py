"""Airflow in a throw-away home (SQLite metadata DB), the repository's dags/ folder, a Spark
connection to local[2], and the pip pyspark's spark-submit (SPARTICLE_SPARK_HOME, set by
python/run-tests.sh: this venv holds Airflow, whose Spark provider brings only pyspark-client)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JAR = Path(os.environ.get("SPARTICLE_JAR", ROOT / "spark-job/target/sparticle-spark-job-0.1.0-SNAPSHOT.jar"))
HOME = Path(tempfile.mkdtemp(prefix="sparticle-airflow-"))

# Before Airflow is imported: it reads its settings once.
os.environ.update({
    "AIRFLOW_HOME": str(HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "airflow/dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
    "AIRFLOW_CONN_SPARTICLE_LOCAL": '{"conn_type": "spark", "host": "local[2]"}',
    "SPARTICLE_JAR": str(JAR),
})


@pytest.fixture(scope="session")
def spark_home() -> Path:
    home = os.environ.get("SPARTICLE_SPARK_HOME")
    if not home or not (Path(home) / "bin/spark-submit").is_file():
        pytest.fail("Set SPARTICLE_SPARK_HOME to a Spark distribution (the pip pyspark package "
                    "directory); python/run-tests.sh does")
    os.environ["SPARK_HOME"] = home
    os.environ["PATH"] = f"{home}/bin{os.pathsep}{os.environ['PATH']}"
    return Path(home)


@pytest.fixture(scope="session")
def airflow_db():
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True,
                   capture_output=True, timeout=600)
    return HOME


@pytest.fixture(scope="session")
def jar() -> Path:
    if not JAR.is_file():
        pytest.fail(f"{JAR} is missing: build it with `mvn -B -DskipTests -pl spark-job -am package`")
    return JAR
