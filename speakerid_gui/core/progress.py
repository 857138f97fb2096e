"""Progress of long jobs: one event type, one cancellation, one driver.

Every long job (the pipeline's stages, training the prosody RNN, the sequence classifiers,
refinement) is a generator of Events that raises Cancelled between batches when its cancel()
returns true, and returns its result as the generator's value. The CLI prints the events, a
GUI worker forwards them as signals; neither needs to know which job it drives.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generator, TypeVar

R = TypeVar("R")


@dataclass
class Event:
    stage: str
    done: int = 0
    total: int = 0
    message: str = ""
    level: str = "progress"         # progress | warning | info
    loss: float | None = None       # training jobs: the epoch's mean training loss
    val_loss: float | None = None   # training jobs: the loss on held-out data
    seconds: float = 0.0            # analyse: seconds of audio done so far (finer than whole files)
    seconds_total: float = 0.0      # analyse: seconds of audio to do (from the file headers)
    skipped: bool = False           # a warning that a file was left out (its message says why)


class Cancelled(Exception):
    """A job stopped between batches because its cancel() said so; it wrote nothing half-done."""


def check(cancel: Callable[[], bool]):
    if cancel():
        raise Cancelled()


def run_to_end(gen: Generator[Event, None, R], progress: Callable[[Event], None] | None = None) -> R:
    """Drive a job's generator to the end (progress(event) per event); its return value."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress:
            progress(event)
