"""The default backend ("auto"), chosen for the corpus: CAM++, joined by GE2E when the clips are short.

A file shorter than one window is one segment, embedded whole. On such clips CAM++ sees a
second or less and loses most (EER, benchmarks/accuracy.py, float32): speech-commands-100
(1 s words) 0.145, fsdd-subset (digits under 1 s, 8 kHz) 0.284; GE2E, trained on 1.6 s
partials, gives 0.108 and 0.187, and the two joined (weight 0.5, the weight compare_backends.py
had used since it was written, not tuned here) 0.078 and 0.177. Segment accuracy, count
estimated: 0.708 -> 0.815 and 0.933 -> 1.000. On 3 s windows of long recordings the second model
changes little (tc100-cut 0.978 -> 0.981, ami-debug 0.861 -> 0.852) and its LSTM would add about
a quarter to the analysis, so long recordings keep CAM++ alone.

Counts are still decided on CAM++ (same_speaker.calibrated_part): the joint vector has no fixed
impostor level.
"""
from __future__ import annotations

import numpy as np

AUTO = "auto"
LONG_RECORDINGS = "campp"
SHORT_CLIPS = "joint:campp=1,ge2e=0.5"


def choose(durations, window: float = 3.0) -> str:
    """The backend for files of these durations (seconds; 0 = unknown, ignored): the short-clip
    combination when the median file is shorter than one window."""
    known = np.asarray([d for d in durations if d and d > 0], dtype=np.float64)
    return SHORT_CLIPS if len(known) and float(np.median(known)) < window else LONG_RECORDINGS


def describe(spec: str) -> str:
    if spec == SHORT_CLIPS:
        return "short clips: CAM++ joined by GE2E"
    return "CAM++"
