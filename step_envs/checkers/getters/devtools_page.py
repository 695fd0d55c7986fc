"""A DevTools protocol client for one Chrome tab, run inside the env by its own ``python3``.

The env has Chrome (Chromium here) with remote debugging on a port, and a ``python3`` with only the standard
library: this module is that client, sent as the source of ``python3 -c`` by
:mod:`step_envs.checkers.getters.devtools`, which reads its one line of JSON output. It imports nothing outside the standard library and nothing of step_envs.

Request (``argv[1]``, JSON)::

    {"port": 9222, "tab": {"url": URL} | {"open": URL} | {}, "steps": [[kind, arg], ...], "timeout": seconds}

(``port`` left out: ``$STEP_DEVTOOLS_PORT``, a local session's own, else 9222)

``tab``: ``url`` picks the open tab showing ``URL`` (percent-encoding and a trailing ``/`` ignored), ``open`` opens a
new tab on ``URL`` (closed again at the end, and the tab active before activated again), ``{}`` takes the most
recently active tab. Steps, in order:

- ``["load", seconds]``: wait until the document is complete and no new resource has loaded for 0.5 s (what
  Playwright calls network idle), at most ``seconds``;
- ``["eval", expression]``: the JSON value of a JavaScript expression (a promise is awaited);
- ``["text", text]``: type ``text`` into the focused element, as a keyboard would (``Input.insertText``);
- ``["pdf", params]``: ``Page.printToPDF`` with ``params``, its PDF as base64;
- ``["sleep", seconds]``.

Output: ``{"results": [...]}`` (one entry per ``eval`` / ``pdf``), ``{"missing": why}`` when there is no such tab,
or ``{"error": why}``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

QUIET_S = 0.5
"""No new resource for this long counts as network idle."""


class DevToolsError(RuntimeError):
    """The DevTools endpoint or the page answered with an error."""


class WebSocket:
    """A minimal RFC 6455 client: text frames out (masked), whole messages in; answers pings."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout)
        self.stream = self.sock.makefile("rb")
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        status = self.stream.readline().decode(errors="replace")
        if " 101 " not in status:
            raise DevToolsError(f"the DevTools socket {url} refused the upgrade: {status.strip()}")
        while self.stream.readline() not in (b"\r\n", b""):
            pass

    def send(self, text: str, opcode: int = 0x1) -> None:
        data = text.encode()
        size = len(data)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        mask = os.urandom(4)
        stream = (mask * (size // 4 + 1))[:size]
        masked = (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")
        self.sock.sendall(header + mask + masked)

    def _read(self, size: int) -> bytes:
        data = self.stream.read(size)
        if data is None or len(data) < size:
            raise DevToolsError("the DevTools socket closed")
        return data

    def receive(self) -> str:
        parts = []
        while True:
            first, second = self._read(2)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else b""
            data = self._read(size)
            if mask:
                data = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
            if opcode == 0x8:
                raise DevToolsError("the DevTools socket closed")
            if opcode == 0x9:
                self.send(data.decode(errors="replace"), opcode=0xA)
                continue
            if opcode in (0x0, 0x1, 0x2):
                parts.append(data)
                if first & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        self.sock.close()


class Tab:
    """One page target: ``call`` sends a DevTools command and waits for its answer, skipping events."""

    def __init__(self, websocket_url: str, timeout: float) -> None:
        self.socket = WebSocket(websocket_url, timeout)
        self.next_id = 0

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self.socket.receive())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True, "userGesture": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise DevToolsError(f"JavaScript error: {details.get('exception', {}).get('description') or details}")
        return result.get("result", {}).get("value")

    def wait_loaded(self, limit: float) -> None:
        """Until the document is complete and the count of loaded resources has not moved for ``QUIET_S``."""
        deadline = time.monotonic() + limit
        count, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            try:
                state = self.evaluate("[document.readyState, performance.getEntriesByType('resource').length]")
            except DevToolsError:  # navigating: the old document's context is gone
                state = None
            if state and state[0] == "complete":
                if state[1] != count:
                    count, since = state[1], time.monotonic()
                elif time.monotonic() - since >= QUIET_S:
                    return
            time.sleep(0.1)

    def close(self) -> None:
        self.socket.close()


def _http(port: int, route: str, method: str = "GET") -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{route}", method=method)
    text = urllib.request.urlopen(request, timeout=10).read().decode()
    return json.loads(text) if text.startswith(("[", "{")) else text


def _tidy(port: int, route: str) -> None:
    """A clean-up request; a tab that is already gone (HTTP 404) is no error."""
    try:
        _http(port, route)
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise


def _same_page(a: str, b: str) -> bool:
    return urllib.parse.unquote(a).rstrip("/") == urllib.parse.unquote(b).rstrip("/")


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Carry out ``request`` (module docstring) and return the output object."""
    port = int(request.get("port") or os.environ.get("STEP_DEVTOOLS_PORT") or 9222)  # a local session's own port
    wanted, timeout = request.get("tab", {}), float(request.get("timeout", 60))
    opened = None
    pages = [t for t in _http(port, "/json/list") if t.get("type") == "page"]
    if "open" in wanted:
        opened = _http(port, "/json/new?" + urllib.parse.quote(wanted["open"], safe=""), "PUT")
        target = opened
    else:
        if "url" in wanted:
            target = next((t for t in pages if _same_page(t.get("url", ""), wanted["url"])), None)
            if target is None:
                return {"missing": f"no tab shows {wanted['url']}; open tabs: {[t.get('url') for t in pages]}"}
        elif pages:
            target = pages[0]
        else:
            return {"missing": "Chrome has no open tab"}
    tab = Tab(target["webSocketDebuggerUrl"], timeout)
    results = []
    try:
        for kind, argument in request.get("steps", []):
            if kind == "load":
                tab.wait_loaded(float(argument))
            elif kind == "eval":
                results.append(tab.evaluate(argument))
            elif kind == "text":
                tab.call("Input.insertText", {"text": argument})
            elif kind == "pdf":
                results.append(tab.call("Page.printToPDF", argument)["data"])
            elif kind == "sleep":
                time.sleep(float(argument))
            else:
                raise DevToolsError(f"unknown step {kind!r}; known: load, eval, text, pdf, sleep")
    finally:
        tab.close()
        if opened is not None:
            _tidy(port, f"/json/close/{opened['id']}")
            if pages:  # closing a tab activates a neighbour: give the agent's tab back its place
                _tidy(port, f"/json/activate/{pages[0]['id']}")
    return {"results": results}


def main() -> None:
    try:
        output = run(json.loads(sys.argv[1]))
    except (OSError, ValueError, KeyError, DevToolsError) as exc:
        output = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(output))


if __name__ == "__main__":
    main()
