#!/usr/bin/env bash
# `make airflow-ui`: Airflow 3 for this repo's DAGs on one machine, everything on 127.0.0.1.
#
# Instead of `airflow standalone` (its log servers bind every interface, it needs `airflow` on
# PATH, and Ctrl-C can leave its children behind), this starts the four Airflow services itself:
# the API server (UI) on 127.0.0.1, the scheduler and the triggerer without their log servers
# (the UI reads the task logs from $AIRFLOW_HOME/logs on this machine), and the DAG processor.
# Each runs in its own process group; Ctrl-C (or any of them dying) stops every group.
#
# Usage: infra/local/airflow-ui.sh VENV_BIN [PORT]
set -uo pipefail

bin="${1:?usage: airflow-ui.sh VENV_BIN [PORT]}"
port="${2:-8080}"
export PATH="$bin:$PATH"  # works from a plain shell: no venv needs to be active
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$port"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$port"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$port/execution/"
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"

groups=()
stop() {
  trap - INT TERM EXIT
  echo "[stockwise] stopping the Airflow services" >&2
  for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done
  for _ in $(seq 1 30); do
    alive=0
    for g in "${groups[@]}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
  wait 2>/dev/null
  exit 0
}
trap stop INT TERM EXIT

start() {  # a service in its own process group (setsid), so that stop() reaches its children
  setsid "$bin/airflow" "$@" &
  groups+=("$!")
}

start api-server --host 127.0.0.1 --port "$port"
start scheduler --skip-serve-logs
start dag-processor
start triggerer --skip-serve-logs

pwfile="${AIRFLOW_HOME:-$HOME/airflow}/simple_auth_manager_passwords.json.generated"
echo "[stockwise] Airflow UI on http://127.0.0.1:$port (user admin; password in $pwfile); Ctrl-C stops it" >&2
for _ in $(seq 1 240); do  # the generated admin password is for the operator only
  [ -f "$pwfile" ] && { chmod 600 "$pwfile"; break; }
  sleep 0.5
done
wait -n  # one service died: stop the others rather than run half a stack
echo "[stockwise] an Airflow service exited" >&2
stop
