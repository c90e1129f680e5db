"""
### Stock events (intraday replanning)

Between two nightly plans the ERP sends each stock change as an event (a sale or other
movement, a receipt, a count, an empty shelf; schema in `stockwise.events`) to a Redis stream,
and announces it on the channel `stockwise:events:wake`. An `AssetWatcher` on that channel
(common-messaging's `MessageQueueTrigger`, `redis+pubsub`, through the Airflow connection
`stockwise_events`) runs this DAG within seconds; every 15 minutes it runs anyway, so a lost
wake-up delays a batch and loses nothing (the events wait in the stream until acknowledged).

`replan` takes the events that arrived (a micro-batch: a burst is one run), keeps each event id
once in `events/stock/ds=<day>/` (bad events go to `events/quarantine/` with why), and replans
**only the positions they touched**, with the plan in force's forecasts and levels (no
retraining). When that orders more, or raises an exception that cannot wait (a position below
its safety stock, an A item out of stock, a receipt short by more than 10%), it publishes an
intraday revision `SW-<plan date>-r<n>` to the lake (`plans_intraday/ds=<day>/`) and the ERP in
one transaction: lines already ordered today are never ordered twice.

Runs one at a time; a run killed anywhere is healed by the next (unacknowledged events are
read again, a revision the ERP committed is flipped in the lake).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable, dag, task

from stockwise.eventqueue import configured_channel
from stockwise.orchestration import OWNER, call_from_airflow, failure_callback, owner_links, retry_delay

# poll the channel every half second (the trigger's default, 60 s, would be most of the latency)
WAKE = MessageQueueTrigger(
    scheme="redis+pubsub", channels=[configured_channel()], redis_conn_id="stockwise_events", poll_interval=0.5
)
STOCK_EVENTS = Asset("stockwise://events/stock", watchers=[AssetWatcher(name="stock_events_queue", trigger=WAKE)])


@dag(
    dag_id="stock_events",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"), assets=STOCK_EVENTS),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    owner_links=owner_links(),
    tags=["stockwise", "events", "intraday"],
    default_args={
        "owner": OWNER,
        "retries": 2,
        "retry_delay": retry_delay(minutes=0.25),
        "execution_timeout": timedelta(minutes=10),
        "on_failure_callback": failure_callback(),
    },
)
def stock_events():
    @task
    def replan() -> dict:
        return call_from_airflow("stock_events", lock=None)

    replan()


stock_events()
