"""What every benchmark here does alike: print as it goes, turn counts into rates
and samples into percentiles, send publishes a window at a time, and stop its
servers when it is killed."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

WINDOW = 500  # publishes in flight at once, as a relay sends a batch


def interrupted(*_: object) -> None:
    # Left to its default, SIGTERM (from timeout, say) would end the bench
    # without stopping the servers and services it started.
    raise KeyboardInterrupt


def say(text: str = "") -> None:
    print(text, flush=True)


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank: the smallest sample with this fraction at or below it."""
    if not ordered:
        return float("nan")
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


async def pipelined(calls: Iterable[Callable[[], Awaitable[Any]]]) -> None:
    """Run the calls WINDOW at a time, each window awaited as a whole."""
    window: list[Awaitable[Any]] = []
    for call in calls:
        window.append(call())
        if len(window) == WINDOW:
            await asyncio.gather(*window)
            window = []
    if window:
        await asyncio.gather(*window)
