"""Fault injection for the tests that kill a run mid-step (`STOCKWISE_FAULT_POINT`).

A named point in the code calls `point(settings, name)`; when the setting names it, the process
dies on the spot with `os._exit` (no cleanup, no `finally`, no flush), as a killed worker would.
Unset (always, outside those tests), it does nothing.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

EXIT_CODE = 86


def point(settings, name: str) -> None:
    if settings.fault_point and settings.fault_point == name:
        print(f"stockwise: fault injected at {name}: process killed", file=sys.stderr, flush=True)
        os._exit(EXIT_CODE)
