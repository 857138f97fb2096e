"""A WAV file its recorder never closed: the samples are there, the header says there are none.

A recorder writes the data chunk's size when it stops; one that lost power or crashed leaves it
at 0, and libsndfile then reads no frames at all (a size of 0xFFFFFFFF, the "still growing" mark
of streaming writers, it reads to the end of the file itself). The bytes after the chunk's header are the recording, in the format its 'fmt '
chunk gives, so they are read here as they are (numpy, no decoder), as sox and ffmpeg do with a
warning. Only plain PCM (8/16/24/32-bit) and IEEE float (32/64-bit) are read, also when wrapped
in WAVE_FORMAT_EXTENSIBLE; anything else is left to libsndfile's own answer.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE


@dataclass(frozen=True)
class UnclosedWav:
    rate: int
    channels: int
    width: int       # bytes per sample
    float: bool
    offset: int      # where the samples start
    frames: int      # whole frames in the file after offset

    @property
    def duration(self) -> float:
        return self.frames / self.rate

    def read(self, path, start: int = 0, count: int | None = None) -> np.ndarray:
        """Frames [start, start + count) as float32 (frames, channels), scaled to [-1, 1)."""
        start = min(max(0, start), self.frames)
        count = self.frames - start if count is None else min(max(0, count), self.frames - start)
        frame = self.width * self.channels
        with open(path, "rb") as f:
            f.seek(self.offset + start * frame)
            raw = np.frombuffer(f.read(count * frame), np.uint8)
        if self.float:
            samples = raw.view("<f4" if self.width == 4 else "<f8").astype(np.float32)
        elif self.width == 1:  # 8-bit WAV is unsigned
            samples = (raw.astype(np.float32) - 128.0) / 128.0
        elif self.width == 3:
            b = raw.reshape(-1, 3).astype(np.int32)
            samples = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 2.0 ** 23
        else:
            samples = raw.view("<i2" if self.width == 2 else "<i4").astype(np.float32) / 2.0 ** (8 * self.width - 1)
        return samples.reshape(-1, self.channels)


def unclosed_wav(path) -> UnclosedWav | None:
    """The file's layout when it is a RIFF/WAVE whose data chunk is marked empty while sample bytes
    follow it; None otherwise (a well-formed file, another format, nothing after)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            fmt = None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name == b"fmt ":
                    fmt = f.read(length)
                    f.seek(length % 2, os.SEEK_CUR)
                elif name == b"data":
                    offset = f.tell()
                    if length != 0 or fmt is None or len(fmt) < 16:
                        return None
                    break
                else:
                    f.seek(length + length % 2, os.SEEK_CUR)
    except OSError:
        return None
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # the sub-format GUID starts with the plain tag
    width = bits // 8
    if channels < 1 or rate < 1 or bits % 8 or not ((tag == PCM and width in (1, 2, 3, 4)) or
                                                     (tag == FLOAT and width in (4, 8))):
        return None
    frames = (size - offset) // (width * channels)
    return UnclosedWav(rate, channels, width, tag == FLOAT, offset, frames) if frames > 0 else None
