"""A real desktop for tests and benchmarks: an X display (Xvfb) and a sound server
(PulseAudio with a null sink whose monitor is recorded with parec).

Outside CI a missing Xvfb or PulseAudio skips the test; in CI (CI=true) it fails, because
there `make test` installs them (Makefile: sysdeps) and a skip would hide a broken desktop.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16000  # the app plays 16 kHz mono; parec records at the same rate (PulseAudio resamples)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(*tools: str):
    """Skip (fail in CI) unless every tool is on PATH."""
    import pytest

    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (make sysdeps installs them as root)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}")
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")


class Xvfb:
    """An X server on a free display number (Xvfb picks it: -displayfd)."""

    def __init__(self, size: str = "1600x1000x24"):
        self.size = size
        self.proc: subprocess.Popen | None = None
        self.display = ""

    def __enter__(self) -> "Xvfb":
        read, write = os.pipe()
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", self.size,
                                      "-nolisten", "tcp", "-noreset"], pass_fds=(write,),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as f:
            number = f.readline().strip()  # written once the server accepts connections
        if not number:
            self.__exit__()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        return self

    def env(self, **extra) -> dict:
        env = dict(os.environ, DISPLAY=self.display, QT_QPA_PLATFORM="xcb", **extra)
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class PulseAudio:
    """A private PulseAudio server (its own socket and runtime folder, works as root too) with a
    null sink `out`; ALSA's default device points at it, so PortAudio (sounddevice) plays there."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.folder / "runtime" / "native"

    def __enter__(self) -> "PulseAudio":
        runtime, home = self.folder / "runtime", self.folder / "home"
        for d in (runtime, home):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o700)
        self.asound = self.folder / "asound.conf"
        self.asound.write_text("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
        env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime), PULSE_RUNTIME_PATH=str(runtime))
        # -n: no default.pa (no hardware, no D-Bus); the socket is ours alone, so no cookie is needed
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
             "--use-pid-file=no", "--log-target=stderr", "--log-level=error",
             "-L", f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
             "-L", "module-null-sink sink_name=out rate=16000 channels=1 format=float32le"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.folder / "pulseaudio.log", "w"))
        _wait(lambda: subprocess.run(["pactl", "info"], env=self.env(), capture_output=True).returncode == 0,
              20, "PulseAudio", self.proc)
        return self

    def env(self, base: dict | None = None) -> dict:
        """Environment for a client: PulseAudio's socket, ALSA's default device on it."""
        env = dict(base if base is not None else os.environ)
        env["PULSE_SERVER"] = f"unix:{self.socket}"
        alsa = Path("/usr/share/alsa/alsa.conf")
        env["ALSA_CONFIG_PATH"] = f"{alsa}:{self.asound}" if alsa.exists() else str(self.asound)
        return env

    def record(self, path: Path) -> "Recording":
        return Recording(self, Path(path))

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Recording:
    """parec of the null sink's monitor, 16 kHz mono float32, from start() to stop().

    A reader thread stamps each chunk with time.monotonic() (one clock for every process), so
    a recording sample maps to the time it reached the monitor: at(k) is an upper bound,
    late by at most parec's latency (20 ms)."""

    def __init__(self, pulse: PulseAudio, path: Path):
        self.pulse, self.path = pulse, path
        self.proc: subprocess.Popen | None = None
        self._data = bytearray()
        self._t0 = float("inf")

    def __enter__(self) -> "Recording":
        import threading

        self.proc = subprocess.Popen(["parec", "-d", "out.monitor", "--raw", "--format=float32le",
                                      f"--rate={RATE}", "--channels=1", "--latency-msec=20"],
                                     env=self.pulse.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _wait(lambda: len(self._data) > 0, 10, "parec", self.proc)  # the stream runs
        return self

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            now = time.monotonic()
            self._data += chunk
            self._t0 = min(self._t0, now - len(self._data) / 4 / RATE)

    def at(self, sample: int) -> float:
        """time.monotonic() at which recording sample `sample` had reached the monitor."""
        return self._t0 + sample / RATE

    def __exit__(self, *exc):
        time.sleep(0.3)  # what is still in the server's buffers
        self.proc.terminate()
        self.proc.wait(10)
        self._reader.join(5)
        self.path.write_bytes(bytes(self._data))

    def samples(self) -> np.ndarray:
        data = bytes(self._data)
        return np.frombuffer(data[:len(data) // 4 * 4], dtype="<f4").astype(np.float64)


def onsets(recording: np.ndarray, gap_ms: float = 50.0) -> list[tuple[int, int]]:
    """(first, last) sample of each stretch of sound: the null sink writes exact zeros while
    nothing plays, and recorded speech is never exactly 0 for long."""
    on = np.flatnonzero(recording != 0)
    if not len(on):
        return []
    breaks = np.flatnonzero(np.diff(on) > gap_ms * RATE / 1000)
    firsts = np.concatenate([[on[0]], on[breaks + 1]])
    lasts = np.concatenate([on[breaks], [on[-1]]])
    return list(zip(firsts.tolist(), lasts.tolist()))


# ---- comparing what was played with what arrived -----------------------------------------------
@dataclass
class Arrival:
    """Where a source signal was found in a recording and how much of it arrived."""
    offset: int            # recording sample where source sample 0 sits
    gain: float
    score: float           # normalised correlation of the whole span (1: identical)
    missing_start_ms: float  # leading stretch that did not arrive
    missing_end_ms: float
    bad_blocks: list       # (ms from the start) of 10 ms blocks inside that did not arrive
    first_ok: bool         # the first and last 60 ms arrived
    last_ok: bool

    @property
    def whole(self) -> bool:
        return self.first_ok and self.last_ok and not self.bad_blocks and self.score > 0.9


def _band(x: np.ndarray) -> np.ndarray:
    """100-7000 Hz, for a server that resamples (16 -> 48 -> 16 kHz alters the rest); the null
    sink here runs at 16 kHz, where the chain is sample-exact and no filter is needed."""
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(6, [100, 7000], btype="band", fs=RATE, output="sos"), x)


def find(source: np.ndarray, recording: np.ndarray, block_ms: float = 10.0, edge_ms: float = 60.0,
         search: tuple[int, int] | None = None, band: bool = False) -> Arrival:
    """Locate `source` in `recording` (normalised cross-correlation) and check it block by block.

    A block arrived when the recording matches the scaled source there: residual energy below a
    quarter of the block's energy (a lost block leaves silence: residual = all of it). Blocks of
    the source that are near-silent cannot be judged and count as arrived.
    """
    from scipy.signal import correlate

    s = np.asarray(source, np.float64)
    r = np.asarray(recording, np.float64)
    if band:
        s, r = _band(s), _band(r)
    lo, hi = search if search is not None else (0, len(r))
    window = r[lo:hi]
    if len(window) < len(s):
        window = np.pad(window, (0, len(s) - len(window)))
    corr = correlate(window, s, mode="valid", method="fft")
    # divided by the recording's norm under the source: a louder stretch elsewhere must not win
    power = np.concatenate([[0.0], np.cumsum(window * window)])
    norm = np.sqrt(np.maximum(power[len(s):] - power[:-len(s)], 0.0)) + 1e-9 * np.sqrt(power[-1] + 1e-30)
    offset = lo + int(np.argmax(corr / norm))
    seg = r[offset:offset + len(s)]
    if len(seg) < len(s):
        seg = np.pad(seg, (0, len(s) - len(seg)))
    score = float(seg @ s / max(np.linalg.norm(seg) * np.linalg.norm(s), 1e-12))
    n = max(1, int(RATE * block_ms / 1000))
    blocks = len(s) // n
    sb, rb = s[:blocks * n].reshape(blocks, n), seg[:blocks * n].reshape(blocks, n)
    energy = (sb * sb).sum(axis=1)
    loud = energy > 0.01 * energy.max()  # the output's volume: the typical block's, so lost blocks do not pull it down
    gain = float(np.median((rb[loud] * sb[loud]).sum(axis=1) / energy[loud]))
    resid = ((rb - gain * sb) ** 2).sum(axis=1)
    audible = energy > 1e-6 * energy.max()
    ok = ~audible | (resid < 0.25 * gain * gain * energy)
    lead = int(np.argmax(ok)) if ok.any() else blocks
    tail = int(np.argmax(ok[::-1])) if ok.any() else blocks
    edge = max(1, int(edge_ms / block_ms))
    inner = [round(i * block_ms) for i in np.flatnonzero(~ok) if lead <= i < blocks - tail]
    return Arrival(offset, gain, score, lead * block_ms, tail * block_ms, inner,
                   bool(ok[:edge].all()), bool(ok[-edge:].all()))


def loudest_start(wave: np.ndarray, seconds: float) -> int:
    """Sample where a `seconds` span starting at speech onset (a loud 10 ms block) begins: a
    segment whose first 60 ms carry speech, so a lost start cannot hide in silence."""
    n = RATE // 100
    usable = len(wave) - int(seconds * RATE)
    energy = np.array([np.mean(wave[i:i + n] ** 2) for i in range(0, max(usable, 1), n)])
    return int(np.argmax(energy)) * n
