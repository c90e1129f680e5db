#!/bin/sh
# MLflow's tracking server behind its basic-auth app (no anonymous access). The auth app's ini is
# written here, at start, from the environment, so that no password lives in the image or in a
# file of the repository: MLFLOW_AUTH_DB (the users database), MLFLOW_ADMIN_USER and
# MLFLOW_ADMIN_PASSWORD (the admin: the pipeline writes with it). Every other user reads only
# (default permission READ). Arguments are passed to `mlflow server`.
set -eu
umask 077
ini="${MLFLOW_AUTH_CONFIG_PATH:-${TMPDIR:-/tmp}/mlflow-basic-auth.ini}"
printf '[mlflow]\ndefault_permission = READ\ndatabase_uri = %s\nadmin_username = %s\nadmin_password = %s\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\n' \
  "$MLFLOW_AUTH_DB" "$MLFLOW_ADMIN_USER" "$MLFLOW_ADMIN_PASSWORD" > "$ini"
export MLFLOW_AUTH_CONFIG_PATH="$ini"
exec mlflow server --app-name basic-auth "$@"
