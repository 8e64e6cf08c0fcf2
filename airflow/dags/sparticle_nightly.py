"""sparticle_nightly: compress the checkpoint of the run's date, then verify it.

Every setting is a DAG param with a default (trigger with a conf to override any of them):

- ``input_uri``, ``output_uri``: Hadoop URIs (``s3a://``, ``hdfs://``, ``abfss://``, ``file:``),
  templates rendered with the run's context, e.g. ``s3a://models/nightly/{{ ds }}/checkpoint``.
- ``bits`` (1..8), ``config_file`` (a YAML job config URI, or empty for the defaults).
- ``spark_conn_id``: the Airflow Spark connection (master, deploy mode, spark-submit binary).
- ``jar``: the Sparticle job jar as spark-submit sees it (local path or a URI the cluster reads).
- ``overwrite``: what a re-run of a date whose output is finished does (below).
- ``verify_against_input``: verify with ``--against`` the input (re-encodes it: proves every code).

Re-runs and retries. ``compress`` writes ``_SUCCESS`` last and leaves a ``_STARTED`` marker while
it runs; a failed or killed attempt leaves no ``_SUCCESS``. A retry, or a re-run of a failed date,
runs the same command on the same input, which the CLI recognises from ``_STARTED`` and replaces
without ``--overwrite``. A re-run of a finished date (a cleared task, a backfill) passes
``--overwrite`` by default and recompresses: the output is deterministic, so the data files and
manifest come back byte-identical and only ``report.json``'s timings change; while it runs the
output has no ``_SUCCESS``, so readers never see a mix. With ``overwrite: false`` such a re-run
fails (exit 2) and leaves the finished output untouched. Any non-zero exit fails the task.
"""

from __future__ import annotations

import os

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Param, task

MAIN_CLASS = "io.sparticle.cli.SparticleCli"
JAR = os.environ.get("SPARTICLE_JAR", "/opt/sparticle/sparticle-spark-job-0.1.0-SNAPSHOT.jar")


class SparticleSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator whose connection id is templated too (``{{ params.spark_conn_id }}``)."""

    template_fields = (*SparkSubmitOperator.template_fields, "_conn_id")


def cli_args(input_uri: str, output_uri: str, bits: int, config_file: str, overwrite: bool,
             verify_against_input: bool) -> dict:
    """The CLI arguments of the two steps (also used for the Databricks payload in the README)."""
    compress = ["compress", "--input", input_uri, "--output", output_uri, "--bits", str(int(bits))]
    if config_file:
        compress += ["--config", config_file]
    if overwrite:
        compress.append("--overwrite")
    verify = ["verify", "--input", output_uri]
    if verify_against_input:
        verify += ["--against", input_uri]
    return {"compress": compress, "verify": verify}


def databricks_submit_run_payload(input_uri: str, output_uri: str, bits: int = 4,
                                  jar: str = "/Volumes/main/default/libs/"
                                             "sparticle-spark-job-0.1.0-SNAPSHOT.jar",
                                  node_type_id: str = "i3.xlarge", num_workers: int = 2) -> dict:
    """The ``json`` of a DatabricksSubmitRunOperator running the same two steps as JAR tasks
    (Databricks Runtime 17.3 LTS; io.sparticle.api.JarTaskMain never calls System.exit)."""
    args = cli_args(input_uri, output_uri, bits, "", True, True)
    cluster = {"spark_version": "17.3.x-scala2.13", "node_type_id": node_type_id,
               "num_workers": num_workers, "data_security_mode": "SINGLE_USER"}

    def jar_task(key, params, depends=None):
        t = {"task_key": key, "job_cluster_key": "sparticle",
             "spark_jar_task": {"main_class_name": "io.sparticle.api.JarTaskMain", "parameters": params},
             "libraries": [{"jar": jar}]}
        if depends:
            t["depends_on"] = [{"task_key": depends}]
        return t

    return {"run_name": "sparticle-nightly",
            "job_clusters": [{"job_cluster_key": "sparticle", "new_cluster": cluster}],
            "tasks": [jar_task("compress", args["compress"]),
                      jar_task("verify", args["verify"], depends="compress")]}


with DAG(
    dag_id="sparticle_nightly",
    description="Compress the checkpoint of the run's date with Sparticle, then verify it",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5)},
    params={
        "input_uri": Param("s3a://models/nightly/{{ ds }}/checkpoint", type="string"),
        "output_uri": Param("s3a://models/nightly/{{ ds }}/sparticle", type="string"),
        "bits": Param(4, type="integer", minimum=1, maximum=8),
        "config_file": Param("", type="string"),
        "spark_conn_id": Param("spark_default", type="string"),
        "jar": Param(JAR, type="string"),
        "overwrite": Param(True, type="boolean"),
        "verify_against_input": Param(True, type="boolean"),
    },
    tags=["sparticle"],
) as dag:

    @task(multiple_outputs=True)
    def resolve(params=None, **context):
        """Renders the URI templates for this run's date and builds both commands' arguments."""
        render = context["task"].render_template
        input_uri = render(params["input_uri"], context)
        output_uri = render(params["output_uri"], context)
        if not input_uri or not output_uri or input_uri == output_uri:
            raise ValueError(f"input_uri {input_uri!r} and output_uri {output_uri!r} must be set "
                             "and differ")
        return cli_args(input_uri, output_uri, params["bits"], params["config_file"],
                        params["overwrite"], params["verify_against_input"])

    args = resolve()
    common = dict(conn_id="{{ params.spark_conn_id }}", application="{{ params.jar }}",
                  java_class=MAIN_CLASS, verbose=False)
    compress = SparticleSubmitOperator(task_id="compress", name="sparticle-compress-{{ ds }}",
                                       application_args=args["compress"], **common)
    verify = SparticleSubmitOperator(task_id="verify", name="sparticle-verify-{{ ds }}",
                                     application_args=args["verify"], **common)
    compress >> verify
