"""Fixed ports of apps inside a session, and OSWorld's commands that name them.

OSWorld's Chrome tasks start Chrome with ``--remote-debugging-port=1337`` and forward port 9222 to it with
``socat tcp-listen:9222,fork tcp:localhost:1337``; its checkers read Chrome's tabs on 9222 and VLC's state from its
web interface on 8080. In a container (the docker provider) those ports are the env's own. A local session shares
the host's network, so two sessions running such tasks side by side would fight over the ports, and a checker could
read the other session's Chrome or VLC. The local provider therefore gives each session ports of its own, in the
session's environment (``$STEP_DEVTOOLS_PORT`` for 9222, ``$STEP_CHROME_DEBUG_PORT`` for 1337,
``$STEP_VLC_HTTP_PORT`` for 8080, which VLC's seeded settings name); the controller server rewrites OSWorld's literal
ports in the commands it launches or executes (:func:`rewrite`), and the clients that run in the env read the
variables (:data:`DEVTOOLS_IN_SESSION`, :data:`VLC_IN_SESSION`). Without the variables nothing changes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

DEVTOOLS_PORT = 9222
"""The port OSWorld's tasks forward to Chrome's DevTools endpoint, and its checkers read."""
CHROME_DEBUG_PORT = 1337
"""The port OSWorld's tasks start Chrome's remote debugging on."""
VLC_HTTP_PORT = 8080
"""VLC's web interface (its default port), which OSWorld's ``vlc_playing_info`` reads."""
DEVTOOLS_ENV, CHROME_DEBUG_ENV, VLC_HTTP_ENV = "STEP_DEVTOOLS_PORT", "STEP_CHROME_DEBUG_PORT", "STEP_VLC_HTTP_PORT"
SESSION_PORTS = (DEVTOOLS_ENV, CHROME_DEBUG_ENV, VLC_HTTP_ENV)
"""The variables a local session gets, in this order."""

DEVTOOLS_IN_SESSION = f"import os\nport = int(os.environ.get({DEVTOOLS_ENV!r}) or {DEVTOOLS_PORT})"
"""Python lines, for a script run in the env, that set ``port`` to the session's port for 9222."""
VLC_IN_SESSION = f"import os\nport = int(os.environ.get({VLC_HTTP_ENV!r}) or {VLC_HTTP_PORT})"
"""The same for VLC's web interface."""

_RULES = (  # (pattern, which port replaces the number)
    (re.compile(rf"(--remote-debugging-port=){CHROME_DEBUG_PORT}\b"), CHROME_DEBUG_ENV),
    (re.compile(rf"(--remote-debugging-port=){DEVTOOLS_PORT}\b"), DEVTOOLS_ENV),
    (re.compile(rf"(tcp-listen:){DEVTOOLS_PORT}\b"), DEVTOOLS_ENV),
    (re.compile(rf"(tcp:(?:localhost|127\.0\.0\.1):){CHROME_DEBUG_PORT}\b"), CHROME_DEBUG_ENV),
)


def rewrite(command: list[str] | str, environ: Mapping[str, str] = os.environ) -> list[str] | str:
    """``command`` (an argv or a shell line) with OSWorld's Chrome ports replaced by the session's; unchanged when
    the session has none of its own."""
    ports = {name: environ[name] for name in (DEVTOOLS_ENV, CHROME_DEBUG_ENV) if environ.get(name)}
    if not ports:
        return command

    def one(text: str) -> str:
        for pattern, name in _RULES:
            if name in ports:
                text = pattern.sub(rf"\g<1>{ports[name]}", text)
        return text

    return one(command) if isinstance(command, str) else [one(str(arg)) for arg in command]
