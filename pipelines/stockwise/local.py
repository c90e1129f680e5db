"""The environment of Stockwise processes started on one machine (the test suite, the benches).

Nothing calls home (MLflow's and Great Expectations' telemetry off: no network here) and Spark
binds the loopback and runs its Python workers on this interpreter.
"""

from __future__ import annotations

import sys

OFFLINE = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "SPARK_LOCAL_IP": "127.0.0.1",
}


def local_env() -> dict[str, str]:
    """The variables above plus Spark's Python: merge them into a process's environment."""
    return {**OFFLINE, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
