"""HTTP client of the controller server (OSWorld's routes plus our ``/step/`` fast path)."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests

from step_envs.core import Endpoint, ProviderError
from step_envs.server import A11Y_SCOPES, TOKEN_HEADER


class A11yError(RuntimeError):
    """The accessibility tree could not be read (no AT-SPI in the session, or it timed out)."""


class ControllerClient:
    """Talks to one environment's controller. Transport failures raise :class:`ProviderError` (an
    environment failure, never a task failure); application-level failures come back as values.

    The per-step routes go through one kept-alive ``http.client`` connection: reading a 2.7 MB frame that way
    costs ~1 ms of CPU, where requests (10 KB chunks, joined) costs ~5 ms, and a step pays it every time.
    """

    def __init__(self, endpoint: Endpoint, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.session = requests.Session()
        if endpoint.token:
            self.session.headers[TOKEN_HEADER] = endpoint.token
        url = urlsplit(endpoint.url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._conn: http.client.HTTPConnection | None = None
        self._conn_lock = threading.Lock()

    def _request(self, method: str, route: str, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, self.endpoint.url + route, timeout=timeout or self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ProviderError(f"controller at {self.endpoint.url} did not answer {route}: {exc}") from exc

    def _fast(self, method: str, route: str, timeout: float, payload: dict[str, Any] | None = None,
              ) -> tuple[http.client.HTTPResponse, bytes]:
        """One request on the kept-alive connection; the response (status, headers) and its whole body."""
        headers = {TOKEN_HEADER: self.endpoint.token} if self.endpoint.token else {}
        body = None
        if payload is not None:
            body, headers["Content-Type"] = json.dumps(payload).encode(), "application/json"
        with self._conn_lock:
            try:
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
                self._conn.timeout = timeout
                if self._conn.sock is not None:
                    self._conn.sock.settimeout(timeout)
                self._conn.request(method, route, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._close_fast()
                raise ProviderError(f"controller at {self.endpoint.url} did not answer {route}: "
                                    f"{type(exc).__name__}: {exc}") from exc
        if response.status != 200:
            raise ProviderError(f"{route} answered {response.status}: {data[:500].decode(errors='replace')}")
        return response, data

    def _close_fast(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- fast path ---------------------------------------------------------------------------------

    def act(self, code: str, timeout: float = 10.0, settle_min: float = 0.0, settle_max: float = 0.0,
            settle: str = "damage") -> dict[str, Any]:
        """Run pyautogui code in the persistent worker: ``{"status", "error", "output", "elapsed", "settle",
        "settle_mode"}``."""
        payload = {"code": code, "timeout": timeout, "settle_min": settle_min, "settle_max": settle_max,
                   "settle": settle}
        return json.loads(self._fast("POST", "/step/act", timeout + settle_max + 10, payload)[1])

    def act_observe(self, code: str, timeout: float = 10.0, settle_min: float = 0.0, settle_max: float = 0.0,
                    settle: str = "damage", still: float | None = None, quiet: float | None = None,
                    files_quiet: float | None = None) -> tuple[dict[str, Any], np.ndarray]:
        """:meth:`act`, and the screen once it settled as an ``(H, W, 3)`` uint8 array, in one round trip.
        Settled (``settle``): nothing was drawn for ``quiet`` seconds after the action and ``still`` seconds after
        the last drawing (``damage``), or two grabs ``still`` seconds apart were identical (``grabs``); ``None``
        takes the server's defaults (``step_envs.server.screen``: ``QUIET_S``, ``STILL_S``). ``files_quiet``: the
        quiet window instead when the files the desktop shows changed since the last request (a reset's)."""
        payload = {"code": code, "timeout": timeout, "settle_min": settle_min, "settle_max": settle_max,
                   "settle": settle, "observe": "raw"}
        payload.update({key: value for key, value in (("still", still), ("quiet", quiet), ("files_quiet", files_quiet))
                        if value is not None})
        response, data = self._fast("POST", "/step/act", timeout + settle_max + 10, payload)
        head = response.getheader("X-Result-Length")
        if head is None:  # a controller from before this route could observe: an image built from an older tree
            raise ProviderError(f"the controller at {self.endpoint.url} sent no frame with /step/act; it predates "
                                "this client (a container image built from older code?): `step-envs image build`")
        return json.loads(data[:int(head)]), self._pixels(response, memoryview(data)[int(head):])

    def screenshot(self) -> np.ndarray:
        """The screen as an ``(H, W, 3)`` uint8 array, transferred raw."""
        return self._pixels(*self._fast("GET", "/step/screenshot?format=raw", self.timeout))

    @staticmethod
    def _pixels(response: http.client.HTTPResponse, data: bytes | memoryview) -> np.ndarray:
        width, height = int(response.getheader("X-Width", "0")), int(response.getheader("X-Height", "0"))
        if len(data) != width * height * 3:
            raise ProviderError(f"a {width}x{height} frame should be {width * height * 3} bytes, got {len(data)}")
        return np.frombuffer(data, np.uint8).reshape(height, width, 3)

    def windows(self) -> list[dict[str, str]]:
        return self._request("GET", "/step/windows").json()

    def wait_idle(self, window_ids: list[str], seconds: float, timeout: float) -> dict[str, Any]:
        """Wait until the apps owning ``window_ids`` stopped working and the screen stopped changing for ``seconds``
        (`step_envs.server.activity`), at most ``timeout``: ``{"idle", "waited", "processes", "busy"}``."""
        response = self._request("POST", "/step/idle", timeout=timeout + 10,
                                 json={"windows": window_ids, "seconds": seconds, "timeout": timeout})
        if response.status_code != 200:
            raise ProviderError(f"/step/idle answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health", timeout=5).json()

    # --- OSWorld's protocol ------------------------------------------------------------------------

    def execute(self, command: list[str] | str, shell: bool = False, timeout: float = 120) -> dict[str, Any]:
        """``{"status", "output", "error", "returncode"}``; ``status`` is ``error`` when it could not run."""
        response = self._request("POST", "/execute", timeout=timeout + 10,
                                 json={"command": command, "shell": shell, "timeout": timeout})
        return response.json()

    def launch(self, command: list[str] | str, shell: bool = False) -> int | None:
        """Start ``command`` in the session; its pid for :meth:`launched` (None from a server that does not say)."""
        response = self._request("POST", "/setup/launch", json={"command": command, "shell": shell})
        if response.status_code != 200:
            raise RuntimeError(f"launch {command!r} failed: {response.text[:500]}")
        pid = response.headers.get("X-Launched-Pid", "")
        return int(pid) if pid.isdigit() else None

    def launched(self, pid: int) -> dict[str, Any]:
        """How a launched program is doing: ``{"known", "running", "returncode", "stderr"}``."""
        response = self._request("GET", f"/setup/launched/{pid}")
        if response.status_code != 200:
            return {"known": False, "running": False, "returncode": None, "stderr": ""}
        return response.json()

    def open_file(self, path: str) -> None:
        response = self._request("POST", "/setup/open_file", json={"path": path})
        if response.status_code != 200:
            raise RuntimeError(f"open {path!r} failed: {response.text[:500]}")

    def upload(self, path: str, data: bytes) -> None:
        response = self._request("POST", "/setup/upload", data={"file_path": path},
                                 files={"file_data": ("file", data)})
        if response.status_code != 200:
            raise RuntimeError(f"upload to {path!r} failed: {response.text[:500]}")

    def get_file(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        response = self._request("POST", "/file", data={"file_path": path})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderError(f"/file answered {response.status_code}: {response.text[:500]}")
        return response.content

    def list_directory(self, path: str) -> dict[str, Any] | None:
        """OSWorld's directory tree (``{"type", "name", "children"}``), or None when it is not a directory."""
        response = self._request("POST", "/list_directory", json={"path": path})
        if response.status_code != 200:
            return None
        return response.json()["directory_tree"]

    def accessibility_tree(self, max_depth: int = 50, max_width: int = 1024, timeout: float = 10.0,
                           scope: str = "all") -> str:
        """The AT-SPI tree as OSWorld-style XML; raises :class:`A11yError` when it cannot be read. ``scope``:
        ``all``, the whole desktop, or ``active``, the active window only (:data:`step_envs.server.A11Y_SCOPES`)."""
        if scope not in A11Y_SCOPES:
            raise ValueError(f"scope must be one of {', '.join(A11Y_SCOPES)}, got {scope!r}")
        params: dict[str, Any] = {"max_depth": max_depth, "max_width": max_width, "timeout": timeout}
        if scope != "all":  # the default goes unsaid: the same request as before scopes
            params["scope"] = scope
        response = self._request("GET", "/accessibility", timeout=timeout + 15, params=params)
        body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
        if response.status_code != 200 or not isinstance(body.get("AT"), str):
            raise A11yError(f"/accessibility answered {response.status_code}: {body.get('error', response.text[:300])}")
        return body["AT"]

    def screenshot_png(self) -> bytes:
        return self._request("GET", "/screenshot").content

    def window_action(self, action: str, window_name: str, strict: bool = False, by_class: bool = False) -> bool:
        """``action`` is ``activate`` or ``close``; returns False when no window matched."""
        response = self._request("POST", f"/setup/{action}_window",
                                 json={"window_name": window_name, "strict": strict, "by_class": by_class})
        return response.status_code == 200

    def terminal_output(self) -> str | None:
        """The focused terminal's text when a terminal is the active window (and the session has accessibility);
        else None. Raises :class:`A11yError` when the accessibility tree cannot be read."""
        response = self._request("GET", "/terminal", timeout=self.timeout + 15)
        if response.status_code != 200:
            raise A11yError(f"/terminal answered {response.status_code}: {response.text[:300]}")
        return response.json()["output"]

    def window_size(self, app_class_name: str) -> dict[str, int] | None:
        """``{"width", "height"}`` of the first window whose WM_CLASS is ``app_class_name`` (any case); None when
        no window has it."""
        response = self._request("POST", "/window_size", data={"app_class_name": app_class_name})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderError(f"/window_size answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def desktop_path(self) -> str | None:
        """The session's ``~/Desktop``, expanded; None when it does not exist."""
        response = self._request("POST", "/desktop_path")
        return response.json()["desktop_path"] if response.status_code == 200 else None

    def wallpaper(self) -> bytes | None:
        """The current wallpaper file's bytes; None when there is none."""
        response = self._request("POST", "/wallpaper")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderError(f"/wallpaper answered {response.status_code}: {response.text[:500]}")
        return response.content

    def change_wallpaper(self, path: str) -> None:
        """Show the env's picture ``path`` (``~`` expands) as the wallpaper; RuntimeError when it is missing."""
        response = self._request("POST", "/setup/change_wallpaper", json={"path": path})
        if response.status_code != 200:
            raise RuntimeError(f"change_wallpaper to {path!r} failed: {response.text[:500]}")

    def download_file(self, url: str, path: str, timeout: float = 1000.0) -> None:
        """Have the env itself download ``url`` (http or https) to ``path``, atomically; RuntimeError when all 3
        tries failed (each up to 300 s, so ``timeout`` covers them)."""
        response = self._request("POST", "/setup/download_file", timeout=timeout, json={"url": url, "path": path})
        if response.status_code != 200:
            raise RuntimeError(f"download of {url} to {path!r} failed: {response.text[:500]}")

    def start_recording(self, framerate: int = 10) -> None:
        """Start recording the screen (an H.264 mp4); RuntimeError while one runs or when ffmpeg fails."""
        response = self._request("POST", "/start_recording", json={"framerate": framerate})
        if response.status_code != 200:
            raise RuntimeError(f"start_recording failed: {response.text[:500]}")

    def end_recording(self) -> bytes:
        """Stop the recording and return the finished mp4; RuntimeError when nothing was recording."""
        response = self._request("POST", "/end_recording", timeout=self.timeout + 60)
        if response.status_code != 200:
            raise RuntimeError(f"end_recording failed: {response.text[:500]}")
        return response.content

    def execute_with_verification(self, command: list[str] | str, verification: dict[str, str], shell: bool = False,
                                  max_wait_time: float = 10.0, check_interval: float = 1.0,
                                  timeout: float = 120) -> dict[str, Any]:
        """:meth:`execute`, then poll ``verification`` (``window_exists``: a title containing it, any case;
        ``command_success``: a shell command exiting 0) every ``check_interval`` s for up to ``max_wait_time`` s.
        The reply adds ``"verification": "passed"`` or ``"failed"`` (then ``status`` is ``verification_failed``)
        and ``wait_time``."""
        response = self._request("POST", "/execute_with_verification", timeout=timeout + max_wait_time + 10,
                                 json={"command": command, "shell": shell, "timeout": timeout,
                                       "verification": verification, "max_wait_time": max_wait_time,
                                       "check_interval": check_interval})
        return response.json()

    def close(self) -> None:
        self.session.close()
        with self._conn_lock:
            self._close_fast()
