"""Screen recording for OSWorld's ``/start_recording`` and ``/end_recording``: ffmpeg's x11grab into an H.264 mp4."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 15.0
DEFAULT_FRAMERATE = 10


class RecordingError(Exception):
    """Recording could not start or stop; the message says why and what to do. ``status``: the HTTP status
    that fits (400 for a request out of turn, 500 for ffmpeg failing)."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class ScreenRecorder:
    """At most one recording at a time of the whole X screen ``$DISPLAY``, with the pointer drawn.

    H.264 (``ultrafast``, yuv420p, so every player opens it) at ``framerate`` frames per second; 10 by default,
    a third of OSWorld's 30, since the recording shares the CPU with the session it records. The mp4 is
    finished (its index written) when ffmpeg stops on SIGINT, so a stopped recording is always playable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="step-gym-recording-"))
        self.path = self._dir / "recording.mp4"

    @property
    def recording(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, width: int, height: int, framerate: int = DEFAULT_FRAMERATE) -> None:
        """Start ffmpeg and return once it writes the mp4 (it captured and encoded its first frame)."""
        with self._lock:
            if self.recording:
                raise RecordingError("Recording is already in progress.", 400)
            ffmpeg = shutil.which("ffmpeg")
            if ffmpeg is None:
                raise RecordingError("ffmpeg is not installed; run `apt-get install ffmpeg` (the images have it)")
            self.path.unlink(missing_ok=True)
            log = self._dir / "ffmpeg.log"
            with open(log, "wb") as stderr:
                self._proc = subprocess.Popen(
                    [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "x11grab", "-draw_mouse", "1",
                     "-framerate", str(framerate), "-video_size", f"{width}x{height}",
                     "-i", os.environ.get("DISPLAY", ":0"), "-c:v", "libx264", "-preset", "ultrafast",
                     "-pix_fmt", "yuv420p", str(self.path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=stderr)
            deadline = time.monotonic() + START_TIMEOUT_S
            while not (self.path.exists() and self.path.stat().st_size > 0):
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self._kill()
                    raise RecordingError(f"ffmpeg did not start recording: {log.read_text(errors='replace')[-1000:]}")
                time.sleep(0.02)

    def stop(self) -> Path:
        """Stop the recording and return the finished mp4."""
        with self._lock:
            if not self.recording:
                self._proc = None
                raise RecordingError("No recording in progress to stop.", 400)
            assert self._proc is not None
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._kill()
                raise RecordingError(f"ffmpeg did not finish the recording within {STOP_TIMEOUT_S:g} s") from None
            self._proc = None
            if not self.path.exists() or self.path.stat().st_size == 0:
                raise RecordingError("Recording failed: ffmpeg left no video")
            return self.path

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
