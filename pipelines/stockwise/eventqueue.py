"""The stock-event queue: a durable Redis stream that holds the events, and a pub/sub channel
that wakes the `stock_events` DAG.

Why both: Airflow's `MessageQueueTrigger` (redis+pubsub) wakes a DAG on a pub/sub message, but
pub/sub keeps nothing: a message sent while no trigger listens (the triggerer restarting, the
trigger re-subscribing between two messages) is gone. So the events themselves go to a stream
(`XADD`, kept until trimmed), read through a consumer group (`XREADGROUP`, acknowledged with
`XACK` only once the batch is in the lake), and the pub/sub message is only a wake-up: a lost
one delays a batch until the next event or the DAG's periodic sweep, and loses nothing.
A batch read but not acknowledged (the task killed between the read and the lake write) is
read again by the next run (`pending` first), and the lake keeps each event id once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from stockwise.errors import QueueUnavailable

log = logging.getLogger(__name__)

STREAM = "stockwise:events"
GROUP = "stockwise"


def wake_channel(stream: str = STREAM) -> str:
    """The pub/sub channel that announces new events on `stream`."""
    return f"{stream}:wake"


CHANNEL = wake_channel()


def configured_channel() -> str:
    """The wake channel of the stream the settings name (`STOCKWISE_EVENTS_STREAM`): what the
    `stock_events` DAG listens on, so the DAG processor needs the same setting as the workers."""
    from stockwise.settings import Settings

    return wake_channel(Settings().events_stream)


@dataclass(frozen=True)
class Message:
    id: str  # the stream entry's id (time-ordered)
    data: bytes  # the event's JSON, as sent


class EventQueue:
    def __init__(self, url: str, stream: str = STREAM, group: str = GROUP) -> None:
        import redis

        self.url = url
        self.stream, self.channel, self.group = stream, wake_channel(stream), group
        self.r = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)

    @contextlib.contextmanager
    def _reach(self) -> Iterator[None]:
        """A Redis that is down or unreachable, as one clear error (Airflow retries the task)."""
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as e:
            from stockwise.masking import mask_url

            raise QueueUnavailable(
                f"the stock-event queue at {mask_url(self.url)} cannot be reached ({e}); events stay in the "
                "stream until a run takes them"
            ) from e

    def publish(self, events: Iterable[str | bytes], maxlen: int = 5_000_000) -> list[str]:
        """Append events (JSON each) to the stream, then wake the consumers once."""
        with self._reach():
            pipe = self.r.pipeline(transaction=False)
            n = 0
            for e in events:
                pipe.xadd(self.stream, {"e": e}, maxlen=maxlen, approximate=True)
                n += 1
            ids = [i.decode() for i in pipe.execute()] if n else []
            if ids:
                self.r.publish(self.channel, f"{len(ids)} {ids[-1]}")
        return ids

    def ensure_group(self) -> None:
        import redis

        try:  # from the stream's start: events sent before the first run are not skipped
            self.r.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def read(self, consumer: str, count: int = 10_000) -> list[Message]:
        """Up to `count` events: first those this consumer read and never acknowledged (a run
        killed before its lake write), then new ones."""
        out: list[Message] = []
        with self._reach():
            self.ensure_group()
        for start in ("0", ">"):
            with self._reach():
                got: Any = self.r.xreadgroup(self.group, consumer, {self.stream: start}, count=count - len(out))
            for _, entries in got or []:
                out += [Message(i.decode(), f.get(b"e", b"")) for i, f in entries if f is not None]
            if len(out) >= count:
                break
        return out

    def ack(self, ids: list[str]) -> int:
        n = 0
        with self._reach():
            for i in range(0, len(ids), 1000):
                n += int(self.r.xack(self.stream, self.group, *ids[i : i + 1000]))
        return n

    def backlog(self) -> int:
        """Events not yet acknowledged: sent but not in the lake (pending plus never read)."""
        with self._reach():
            self.ensure_group()
            info = {g["name"].decode(): g for g in self.r.xinfo_groups(self.stream)}
        g = info.get(self.group)
        if g is None:
            return int(self.r.xlen(self.stream))
        lag = g.get("lag")
        return int(g.get("pending", 0)) + (int(lag) if lag is not None else 0)
