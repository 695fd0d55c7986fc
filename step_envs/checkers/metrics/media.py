"""Metrics on audio and video files, with the rules of OSWorld's ``metrics/vlc.py`` and ``others.py``; FFmpeg (on
the host, as for the controller's recordings) decodes and reads tags.

Audio similarity, as OSWorld computes it with librosa and fastdtw::

    similarity = exp(-D / L)

D the cost of the FastDTW alignment (radius 1; Salvador & Chan 2007) of the two MFCC sequences under the cosine
distance, L the alignment path's length. MFCCs as librosa's defaults: mono at 22050 Hz, 2048-sample Hann frames
every 512 samples (centred, zero-padded), power spectrum, 128 Slaney mel bands, dB with an 80 dB floor, the first 20
orthonormal DCT-II coefficients, each coefficient's track divided by its largest magnitude.

Video sameness, as OSWorld's ``compare_videos``: the first 100 frames' perceptual hashes (imagehash's ``phash``:
the 8x8 lowest DCT-II frequencies of the 32x32 grey frame, each bit "above the median") may differ by more than 5
bits in at most 5 frames, and the videos must run out of frames together.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from step_envs.checkers.metrics.scoring import rules_of, verdict
from step_envs.checkers.metrics.table import match_rule
from step_envs.checkers.registry import NO_RESULT, Score, metric, short

SAMPLE_RATE = 22050
N_FFT, HOP, N_MELS, N_MFCC = 2048, 512, 128, 20
DECODE_TIMEOUT_S = 120.0


def _ffmpeg(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise RuntimeError(f"reading media needs FFmpeg's {tool} on this host (apt install ffmpeg)")
    return found


def decode_audio(path: str) -> np.ndarray:
    """The file's sound as mono float32 samples at :data:`SAMPLE_RATE`; empty for a file with no audio stream or
    one FFmpeg cannot read."""
    proc = subprocess.run([_ffmpeg("ffmpeg"), "-v", "error", "-nostdin", "-i", path, "-vn", "-ac", "1", "-ar",
                           str(SAMPLE_RATE), "-f", "f32le", "-"], capture_output=True, timeout=DECODE_TIMEOUT_S)
    if proc.returncode != 0:
        return np.zeros(0, np.float32)
    return np.frombuffer(proc.stdout, np.float32)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic (27 mels per factor 6.4) above."""
    hz = np.asarray(hz, np.float64)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, hz / (200.0 / 3))


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((math.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def _mel_filters() -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) triangular filters from 0 Hz to Nyquist, each scaled to unit area (Slaney)."""
    frequencies = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(SAMPLE_RATE / 2.0)), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - frequencies[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def _dct_matrix(size: int, count: int) -> np.ndarray:
    """The first ``count`` rows of the orthonormal DCT-II of length ``size``."""
    n = np.arange(size)
    matrix = np.cos(np.pi * np.arange(count)[:, None] * (2 * n[None, :] + 1) / (2 * size)) * math.sqrt(2 / size)
    matrix[0] /= math.sqrt(2)
    return matrix


def mfcc(samples: np.ndarray) -> np.ndarray:
    """(N_MFCC, frames) MFCCs of mono samples at :data:`SAMPLE_RATE` (see the module docstring)."""
    padded = np.pad(samples.astype(np.float64), N_FFT // 2)
    if len(padded) < N_FFT:
        padded = np.pad(padded, (0, N_FFT - len(padded)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    decibels = 10 * np.log10(np.maximum(1e-10, _mel_filters() @ power.T))
    decibels = np.maximum(decibels, decibels.max() - 80.0)
    return _dct_matrix(N_MELS, N_MFCC) @ decibels


def _normalise_rows(features: np.ndarray) -> np.ndarray:
    """Each row divided by its largest magnitude (rows of zeros kept)."""
    peak = np.abs(features).max(axis=1, keepdims=True)
    return features / np.where(peak > np.finfo(np.float64).tiny, peak, 1.0)


def _cosine_costs(x: np.ndarray, y: np.ndarray, cells: list[tuple[int, int]]) -> np.ndarray:
    rows, columns = np.array([c[0] for c in cells]), np.array([c[1] for c in cells])
    a, b = x[rows], y[columns]
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(1.0 - np.einsum("ij,ij->i", a, b) / norms, nan=1.0)  # a zero frame: distance 1


def _dtw(x: np.ndarray, y: np.ndarray, window: list[tuple[int, int]]) -> tuple[float, list[tuple[int, int]]]:
    """DTW restricted to ``window`` (cells in row-major order): the cost of the best path from (0, 0) to the last
    cell, and the path. Steps down, right or diagonal; ties prefer down, then right (fastdtw's order)."""
    costs = _cosine_costs(x, y, window)
    best: dict[tuple[int, int], tuple[float, int, int]] = {(-1, -1): (0.0, -1, -1)}
    inf = (math.inf, -1, -1)
    for (i, j), cost in zip(window, costs, strict=True):
        steps = (best.get((i - 1, j), inf), i - 1, j), (best.get((i, j - 1), inf), i, j - 1), (
            best.get((i - 1, j - 1), inf), i - 1, j - 1)
        previous, pi, pj = min(steps, key=lambda step: step[0][0])
        best[i, j] = (previous[0] + float(cost), pi, pj)
    end = (len(x) - 1, len(y) - 1)
    path, cell = [], end
    while cell != (-1, -1):
        path.append(cell)
        cell = best[cell][1:]
    return best[end][0], path[::-1]


def _halve(series: np.ndarray) -> np.ndarray:
    """Means of consecutive pairs (a last odd element is dropped, as fastdtw does)."""
    even = series[: len(series) // 2 * 2]
    return (even[0::2] + even[1::2]) / 2


def _expand(path: list[tuple[int, int]], rows: int, columns: int, radius: int) -> list[tuple[int, int]]:
    """The cells of the finer grid around a coarse path: each path cell grown by ``radius``, then doubled; per row
    the first contiguous run of such cells (fastdtw's window)."""
    grown = {(i + a, j + b) for i, j in path for a in range(-radius, radius + 1) for b in range(-radius, radius + 1)}
    fine = {(2 * i + a, 2 * j + b) for i, j in grown for a in (0, 1) for b in (0, 1)}
    window: list[tuple[int, int]] = []
    start = 0
    for i in range(rows):
        first = None
        for j in range(start, columns):
            if (i, j) in fine:
                window.append((i, j))
                first = j if first is None else first
            elif first is not None:
                break
        start = first if first is not None else start
    return window


def fastdtw(x: np.ndarray, y: np.ndarray, radius: int = 1) -> tuple[float, list[tuple[int, int]]]:
    """FastDTW of two feature sequences (frames as rows) under the cosine distance: DTW on halved sequences,
    recursively, then DTW within ``radius`` of the coarse path projected up."""
    if len(x) < radius + 2 or len(y) < radius + 2:
        return _dtw(x, y, [(i, j) for i in range(len(x)) for j in range(len(y))])
    _, coarse = fastdtw(_halve(x), _halve(y), radius)
    return _dtw(x, y, _expand(coarse, len(x), len(y), radius))


def audio_similarity(first: np.ndarray, second: np.ndarray) -> float:
    """``exp(-D / L)`` of two mono sample arrays (see the module docstring)."""
    a, b = _normalise_rows(mfcc(first)).T, _normalise_rows(mfcc(second)).T
    cost, path = fastdtw(a, b)
    return math.exp(-cost / len(path))


@metric("compare_audios")
def compare_audios(result: str | None, expected: str | None, **options: Any) -> Score:
    """The similarity of two sounds in [0, 1] (see the module docstring); two empty or unreadable files count as
    the same (1), one of them as different (0)."""
    if result is None or expected is None:
        return NO_RESULT
    first, second = decode_audio(result), decode_audio(expected)
    if not len(first) or not len(second):
        same = not len(first) and not len(second)
        return Score(float(same), "both files hold no sound" if same else
                     f"{Path(result if not len(first) else expected).name} holds no readable sound")
    value = audio_similarity(first, second)
    return Score(value, f"audio similarity {value:.3f} over {len(first) / SAMPLE_RATE:.1f} s and "
                        f"{len(second) / SAMPLE_RATE:.1f} s")


def phash(image: Image.Image) -> np.ndarray:
    """imagehash's perceptual hash as 64 booleans (see the module docstring)."""
    pixels = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), np.float64)
    dct = _dct_matrix(32, 8)
    low = dct @ pixels @ dct.T  # the 8x8 lowest frequencies; DCT scaling does not move the median test
    return (low > np.median(low)).ravel()


def video_frames(path: str, limit: int) -> list[np.ndarray]:
    """The perceptual hashes of the first ``limit`` frames of a video (as FFmpeg decodes it, rotation applied); no
    frames for a file FFmpeg cannot read."""
    probe = subprocess.run([_ffmpeg("ffprobe"), "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height:stream_side_data=rotation", "-of", "json", path],
                           capture_output=True, text=True, timeout=DECODE_TIMEOUT_S)
    streams = json.loads(probe.stdout or "{}").get("streams", []) if probe.returncode == 0 else []
    if not streams:
        return []
    width, height = streams[0]["width"], streams[0]["height"]
    rotation = next((int(side.get("rotation", 0)) for side in streams[0].get("side_data_list", [])), 0)
    if rotation % 180:
        width, height = height, width
    proc = subprocess.Popen([_ffmpeg("ffmpeg"), "-v", "error", "-nostdin", "-i", path, "-map", "0:v:0", "-frames:v",
                             str(limit), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
    hashes, size = [], width * height * 3
    try:
        assert proc.stdout is not None
        while len(hashes) < limit and len(frame := proc.stdout.read(size)) == size:
            hashes.append(phash(Image.frombytes("RGB", (width, height), frame)))
    finally:
        proc.kill()
        proc.wait()
    return hashes


@metric("compare_videos")
def compare_videos(result: str | None, expected: str | None, max_frames_to_check: int = 100, threshold: int = 5,
                   **options: Any) -> Score:
    """1 when, frame by frame over the first ``max_frames_to_check`` frames, at most ``threshold`` frames' hashes
    differ by more than ``threshold`` bits, and neither video ends before the other within them."""
    if result is None or expected is None:
        return NO_RESULT
    first, second = video_frames(result, max_frames_to_check), video_frames(expected, max_frames_to_check)
    mismatches = 0
    for index in range(max_frames_to_check):
        if index >= len(first) or index >= len(second):
            return verdict(len(first) == len(second), f"same video ({index} frames)",
                           f"one video ends first: {len(first)} frames against {len(second)}")
        if int(np.count_nonzero(first[index] != second[index])) > threshold:
            mismatches += 1
            if mismatches > threshold:
                return Score(0.0, f"{mismatches} of the first {index + 1} frames differ")
    return Score(1.0, f"the first {max_frames_to_check} frames match ({mismatches} differ)")


_TAG_NAMES = {"albumartist": "album_artist", "tracknumber": "track"}
"""Mutagen's EasyID3 names (which OSWorld's rules use) that FFmpeg spells otherwise."""


def audio_tags(path: str) -> dict[str, str]:
    """The file's tags as FFmpeg reads them (ID3 for MP3), names in lower case."""
    proc = subprocess.run([_ffmpeg("ffprobe"), "-v", "error", "-show_entries", "format_tags", "-of", "json", path],
                          capture_output=True, text=True, timeout=DECODE_TIMEOUT_S)
    if proc.returncode != 0:
        raise ValueError(f"{Path(path).name} is not a readable audio file: {proc.stderr.strip()[-200:]}")
    tags = json.loads(proc.stdout or "{}").get("format", {}).get("tags", {})
    return {str(key).lower(): str(value) for key, value in tags.items()}


@metric("check_mp3_meta")
def check_mp3_meta(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when every tag named in ``rules`` (``title``, ``artist``, ``album``, ... as mutagen's EasyID3 names them)
    matches its ``{"method", "ref"}`` rule (see :func:`~step_envs.checkers.metrics.table.match_rule`); a missing
    tag reads ``""``."""
    rules = rules_of(rules, "{tag: {'method': ..., 'ref': ...}}")
    if not rules or not all(isinstance(rule, dict) and "method" in rule for rule in rules.values()):
        raise ValueError(f"needs rules {{tag: {{'method', 'ref'}}}}, got {short(rules)}")
    if result is None:
        return NO_RESULT
    tags = audio_tags(result)
    for name, rule in rules.items():
        value = tags.get(_TAG_NAMES.get(name, name), "")
        if not match_rule(value, rule):
            return Score(0.0, f"{name} is {value!r}, fails {rule['method']} {short(rule.get('ref'))}")
    return Score(1.0, f"tags {sorted(rules)} as expected")
