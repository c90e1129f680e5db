"""Create MLflow's read-only model reviewer (idempotent): MLFLOW_REVIEWER_USER/_PASSWORD, signed in
as the admin (MLFLOW_TRACKING_USERNAME/_PASSWORD). Used by the compose stack's mlflow-init."""

import os
import sys

from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

url = sys.argv[1] if len(sys.argv) > 1 else "http://mlflow:5000"
client = AuthServiceClient(url)
try:
    client.create_user(os.environ["MLFLOW_REVIEWER_USER"], os.environ["MLFLOW_REVIEWER_PASSWORD"])
    print("created the read-only reviewer", os.environ["MLFLOW_REVIEWER_USER"])
except MlflowException as e:
    if "already exists" not in str(e):
        raise
    print("the reviewer exists already")
