"""Is every sample heard, and how soon? Real segments played through the app's player into a
private PulseAudio null sink, its monitor recorded with parec and compared with the source.

    python benchmarks/playback.py [--segments 12] [--latency low high 0.05]

For each way of playing, prints: ms missing at the start and at the end of each span (mean,
max), spans with a dropout inside, PortAudio underruns, and play -> sound: from the play()
call to the time the span's first sample reached the sink's monitor (parec's chunks are
stamped with the same monotonic clock: an upper bound, late by at most parec's 20 ms), with
PortAudio's own estimate of its output latency beside it.

Ways of playing: `per-play` opens a stream for every span (what sounddevice.play did, the
app's player before), `kept` is the app's SoundDevicePlayer (one stream kept open) at the
given PortAudio latency settings. Needs pulseaudio, pulseaudio-utils, libasound2-plugins
(make sysdeps). Spans are real LibriSpeech speech starting at a speech onset, so a lost start
cannot hide in silence; a stop-and-play (next segment while one plays) is part of the run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "gui")]
DATA = ROOT.parent / "shared" / "data"
GAP = 0.4  # s of silence between spans (the recording separates them)


def speech_spans(n: int, seconds: tuple[float, ...] = (0.6, 1.5, 3.0)) -> list[np.ndarray]:
    """n spans from different LibriSpeech files, each starting at a speech onset."""
    from desktop import loudest_start

    from speakerid_gui.core.audio.decode import load_audio

    files = sorted((DATA / "librispeech-test-other").glob("*/*.flac"))
    if not files:
        sys.exit(f"no audio in {DATA / 'librispeech-test-other'}")
    spans = []
    for i in range(n):
        wave = load_audio(files[(i * 7) % len(files)])
        wave = wave[0] if isinstance(wave, tuple) else wave
        length = seconds[i % len(seconds)]
        start = loudest_start(wave, length)
        spans.append(wave[start:start + int(length * 16000)].astype(np.float32))
    return spans


CHILD = r"""
import json, sys, time
import numpy as np
from PySide6.QtCore import QCoreApplication, QEventLoop
sys.path.insert(0, {root!r})
from speakerid_gui.gui.player import SoundDevicePlayer

way, latency, spans_file = sys.argv[1], sys.argv[2], sys.argv[3]
latency = float(latency) if latency[0].isdigit() else latency
spans = list(np.load(spans_file, allow_pickle=True))
app = QCoreApplication([])


class PerPlay(SoundDevicePlayer):
    SETTLE = 0.0
    def _open(self, sr):  # a new stream for every span, started at once: sounddevice.play
        self.close_stream()
        return super()._open(sr)


player = (PerPlay if way == "per-play" else SoundDevicePlayer)(latency=latency)
player.failed.connect(lambda m: (print(json.dumps({{"error": m}})), sys.exit(1)))
if way == "kept":
    player.warm_up()
    time.sleep(0.5)
latencies, interrupted, played = [], [], []
for i, span in enumerate(spans):
    loop = QEventLoop()
    player.stopped.connect(loop.quit)
    t = time.monotonic()
    player.play(span, 16000)
    if i == 1:  # a stop-and-play: the next key while this span plays (the first is cut short)
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)
        interrupted.append(i)
        t = time.monotonic()
        player.play(spans[i], 16000)
        player.stopped.disconnect(loop.quit)
        loop = QEventLoop()
        player.stopped.connect(loop.quit)
    loop.exec()
    player.stopped.disconnect(loop.quit)
    latencies.append((player.heard_at - t) if player.heard_at else None)
    played.append(t)
    end = time.monotonic() + {gap}
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
print(json.dumps({{"latency": latencies, "played": played, "underruns": player.underruns,
                  "interrupted": interrupted}}))
"""


def run_way(way: str, latency, spans: list[np.ndarray], folder: Path) -> dict:
    from desktop import PulseAudio, find, onsets

    spans_file = folder / "spans.npy"
    np.save(spans_file, np.array(spans, dtype=object), allow_pickle=True)
    code = CHILD.format(root=str(ROOT), gap=GAP)
    with PulseAudio(folder / f"pulse-{way}-{latency}") as pulse:
        with pulse.record(folder / f"rec-{way}-{latency}.raw") as rec:
            proc = subprocess.run([sys.executable, "-c", code, way, str(latency), str(spans_file)],
                                  env=pulse.env(), capture_output=True, text=True, timeout=300)
        recording = rec.samples()
    if proc.returncode:
        return {"error": (proc.stdout + proc.stderr).strip()[-400:]}
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    # the interrupted span was played twice: its first, cut-short copy comes first in the recording
    arrivals, heard, pos = [], [], 0
    for i, span in enumerate(spans):
        if i in child["interrupted"]:  # the sound that starts first after the last span
            pos = next((a for a, _ in onsets(recording) if a >= pos), pos) + int(0.1 * 16000)
        a = find(span, recording, block_ms=1.0, search=(pos, len(recording)))
        arrivals.append(a)
        heard.append(rec.at(a.offset) - child["played"][i])
        pos = a.offset + len(span) - 160
    return {"arrivals": arrivals, "heard": heard, **child}


def summary(name: str, result: dict) -> str:
    if "error" in result:
        return f"{name:18s} failed: {result['error']}"
    arr = result["arrivals"]
    start = [a.missing_start_ms for a in arr]
    end = [a.missing_end_ms for a in arr]
    drop = sum(bool(a.bad_blocks) for a in arr)
    lat = [x * 1000 for x in result["latency"] if x is not None]
    heard = [x * 1000 for x in result["heard"]]
    whole = sum(a.whole for a in arr)
    return (f"{name:18s} whole {whole:2d}/{len(arr)}  missing start mean {statistics.mean(start):5.1f} "
            f"max {max(start):5.1f} ms  end mean {statistics.mean(end):5.1f} max {max(end):5.1f} ms  "
            f"dropouts {drop}  underruns {result['underruns']}  "
            f"play->sound at the sink median {statistics.median(heard):5.0f} max {max(heard):5.0f} ms "
            f"(PortAudio's DAC estimate {statistics.median(lat):4.0f} ms)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=12)
    ap.add_argument("--keep", type=Path, help="keep the recordings in this folder")
    ap.add_argument("--latency", nargs="+", default=["low", "high"],
                    help="PortAudio latency settings of the kept stream: low, high or seconds")
    args = ap.parse_args()
    import shutil

    for tool in ("pulseaudio", "parec", "pactl"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: make sysdeps installs pulseaudio and pulseaudio-utils")
    spans = speech_spans(args.segments)
    print(f"{len(spans)} LibriSpeech spans of {sorted({round(len(s) / 16000, 1) for s in spans})} s, "
          f"null sink at 16 kHz; load: {open('/proc/loadavg').read().split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            tmp = args.keep
        ways = [("per-play", "high")] + [("kept", lat) for lat in args.latency]
        for way, latency in ways:
            t0 = time.perf_counter()
            result = run_way(way, latency, spans, Path(tmp))
            print(summary(f"{way} ({latency})", result), f"[{time.perf_counter() - t0:.0f} s]", flush=True)
    print(f"load after: {open('/proc/loadavg').read().split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
