"""`stockwise backtest` starts its Spark session while it reads the files (`spark.prestart`): the
feature job must get that very session, stop it when done, and a run that fails before its
job must not leave a session behind. Run in a fresh interpreter: the suite's shared session
would make `prestart` (rightly) do nothing."""

import os
import subprocess
import sys
import textwrap

import pytest

from stockwise.local import local_env

pytestmark = [pytest.mark.spark]

SCRIPT = textwrap.dedent(
    """
    import time
    from pyspark import SparkContext
    from stockwise import spark
    from stockwise.settings import Settings

    s = Settings(spark_master="local[1]", spark_shuffle_partitions=1)
    spark.prestart(s, "early")
    time.sleep(0.2)  # the caller reads its files meanwhile
    with spark.spark_job(s, "late") as sp:
        assert sp.sparkContext.appName == "early", sp.sparkContext.appName  # the session started ahead
        assert sp.range(5).count() == 5
        assert not spark._early
    assert SparkContext._active_spark_context is None, "the job's session was left running"

    spark.prestart(s, "abandoned")  # the caller then fails before its Spark job
    spark.cancel_prestart()
    assert SparkContext._active_spark_context is None and not spark._early

    bad = Settings(spark_master="no-such-master", spark_shuffle_partitions=1)
    spark.prestart(bad, "broken")
    try:
        with spark.spark_job(bad, "broken"):
            raise SystemExit("a session on a bad master started")
    except Exception as e:  # the real error, raised in the caller's thread
        assert "no-such-master" in str(e) or "Could not parse Master URL" in str(e), e
    print("OK")
    """
)


def test_the_job_gets_the_session_started_ahead_and_a_failed_caller_leaves_none(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKWISE_")}
    env.update(local_env(), STOCKWISE_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stderr[-3000:]
