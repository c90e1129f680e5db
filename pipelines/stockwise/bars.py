"""Progress bars for long work, in a terminal; elsewhere (Airflow task logs, pipes) nothing
changes: the jobs' own log lines, at most every 30 s on long fits, say where they are.

The CLI turns bars on (`shown`) when its standard error is a terminal, or with `--progress`;
work reports its steps through `bar` whether or not anything is shown.

    with bars.bar("backtest", total=12) as b:
        for ...:
            b.advance(note="lightgbm @ 2016-03-27")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_progress: Any = None  # a rich.progress.Progress while bars are shown


class Bar:
    """One line of progress: `advance` moves it (and may say what was just done)."""

    def __init__(self, progress: Any = None, task: Any = None, label: str = "") -> None:
        self._p, self._task, self.label = progress, task, label

    def advance(self, n: float = 1, note: str | None = None) -> None:
        if self._p is None:
            return
        desc = {"description": f"{self.label} · {note}"} if note else {}
        self._p.update(self._task, advance=n, **desc)

    def total(self, total: float) -> None:
        if self._p is not None:
            self._p.update(self._task, total=total)


@contextmanager
def bar(label: str, total: float | None = None, transient: bool = False) -> Iterator[Bar]:
    """A bar for `total` steps while bars are shown (else a bar that shows nothing);
    `transient`: removed when done (a sub-step such as one model fit)."""
    p = _progress
    if p is None:
        yield Bar()
        return
    task = p.add_task(label, total=total)
    try:
        yield Bar(p, task, label)
    except BaseException:
        p.update(task, description=f"{label} · failed")
        raise
    if transient:
        p.remove_task(task)
    else:  # done: full, whatever was counted
        done = total if total is not None else 1
        p.update(task, description=label, total=done, completed=done)


def active() -> bool:
    return _progress is not None


@contextmanager
def shown(console: Any = None) -> Iterator[Any]:
    """Show bars on `console` (default: standard error) until the block ends; log records are
    printed above them through the same console (the returned handler, for `logging`)."""
    global _progress
    from rich.console import Console
    from rich.logging import RichHandler
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = console or Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    handler = RichHandler(console=console, show_path=False, markup=False, rich_tracebacks=False)
    with progress:
        _progress = progress
        try:
            yield handler
        finally:
            _progress = None
