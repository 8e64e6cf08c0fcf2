"""The Databricks notebook (run with plain python) and the bundle's JAR task (checked against the
built jar and the CLI parser, and run in-process in a shared driver as Databricks runs it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile

import pytest
import yaml
from py4j.protocol import Py4JJavaError

from conftest import ROOT, make_checkpoint

NOTEBOOK = ROOT / "databricks/notebooks/sparticle_compress.py"
BUNDLE = ROOT / "databricks/databricks.yml"


def test_notebook_is_in_databricks_source_format():
    text = NOTEBOOK.read_text()
    assert text.startswith("# Databricks notebook source\n")
    cells = text.split("\n# COMMAND ----------\n")
    assert len(cells) >= 5
    for name in ("input", "output", "bits"):
        assert re.search(rf'dbutils\.widgets\.(text|dropdown)\("{name}"', text), name
        assert f'dbutils.widgets.get("{name}")' in text


def test_notebook_runs_with_plain_python(tmp_path, jar):
    src = make_checkpoint(tmp_path / "in", "F16")
    out = tmp_path / "out"
    env = dict(os.environ, SPARTICLE_INPUT=str(src), SPARTICLE_OUTPUT=str(out), SPARTICLE_BITS="3",
               SPARTICLE_JAR=str(jar))
    p = subprocess.run([sys.executable, str(NOTEBOOK)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-4000:]
    assert re.search(r"at 3 bits: [\d,]+ -> [\d,]+ bytes, ratio \d+\.\d\dx", p.stdout), p.stdout
    assert "verified: " in p.stdout and "tensors match" in p.stdout
    assert (out / "_SUCCESS").exists()
    report = json.loads((out / "report.json").read_text())
    assert {g["bits"] for g in report["groups"]} == {3}
    for g in report["groups"]:  # the summary table shows every group
        assert g["name"] in p.stdout


def test_notebook_without_widget_values_says_which(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARTICLE_")}
    p = subprocess.run([sys.executable, str(NOTEBOOK)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode != 0
    assert "Set SPARTICLE_INPUT (the notebook's 'input' widget)" in p.stderr


def bundle_tasks():
    b = yaml.safe_load(BUNDLE.read_text())
    job = b["resources"]["jobs"]["sparticle_compress"]
    params = {p["name"]: p["default"] for p in job["parameters"]}
    return b, job, params


def java_args(spark, args):
    gw = spark.sparkContext._gateway
    arr = gw.new_array(gw.jvm.java.lang.String, len(args))
    for i, a in enumerate(args):
        arr[i] = a
    return arr


def resolve(args, params):
    return [re.sub(r"\{\{job\.parameters\.(\w+)\}\}", lambda m: params[m.group(1)], a) for a in args]


def test_bundle_jar_task_matches_the_jar_and_the_cli_parser(spark, jar):
    b, job, params = bundle_tasks()
    assert job["job_clusters"][0]["new_cluster"]["spark_version"] == "17.3.x-scala2.13"
    assert b["variables"]["jar_path"]["default"].endswith("/" + jar.name)
    classes = set(zipfile.ZipFile(jar).namelist())
    jvm = spark._jvm
    for task in job["tasks"]:
        t = task["spark_jar_task"]
        assert t["main_class_name"].replace(".", "/") + ".class" in classes, t["main_class_name"]
        assert task["libraries"] == [{"jar": "${var.jar_path}"}]
        args = resolve(t["parameters"], params)
        assert "{{" not in " ".join(args)
        parsed = parse(jvm, spark, args)  # the CLI's own picocli parser, without running
        assert parsed[0] == args[0] and len(parsed) == 2, parsed
    with pytest.raises(Py4JJavaError, match="Unknown options: '--bitz', '4'"):
        parse(jvm, spark, ["compress", "--input", "x", "--output", "y", "--bitz", "4"])
    with pytest.raises(Py4JJavaError, match="Missing required option: '--output"):
        parse(jvm, spark, ["compress", "--input", "x"])


def parse(jvm, spark, args):
    """The subcommands picocli matches for args, as SparticleCli parses them (picocli is shaded)."""
    cli = jvm.io.sparticle.shaded.picocli.CommandLine(jvm.io.sparticle.cli.SparticleCli())
    result = cli.parseArgs(java_args(spark, args))
    names = [str(result.commandSpec().name())]
    while result.hasSubcommand():
        result = result.subcommand()
        names.append(str(result.commandSpec().name()))
    return names[1:] + [len(names)]


def test_bundle_jar_task_runs_in_a_shared_driver(spark, tmp_path):
    """What Databricks does with the JAR task: main() in the running driver, whose session it
    must neither exit nor stop; then verify; then a failing run fails the task."""
    _, job, params = bundle_tasks()
    params = dict(params, input=str(make_checkpoint(tmp_path / "in", "BF16")),
                  output=str(tmp_path / "out"), bits="5")
    main = spark._jvm.io.sparticle.api.JarTaskMain
    for task in job["tasks"]:
        main.main(java_args(spark, resolve(task["spark_jar_task"]["parameters"], params)))
    assert (tmp_path / "out/_SUCCESS").exists()
    assert {g["bits"] for g in json.loads((tmp_path / "out/manifest.json").read_text())["groups"]} == {5}
    assert spark.range(3).count() == 3  # the shared session still works
    with pytest.raises(Py4JJavaError, match=r"sparticle verify failed with exit code 3 \(BAD_INPUT\)"):
        main.main(java_args(spark, ["verify", "--input", params["input"]]))
