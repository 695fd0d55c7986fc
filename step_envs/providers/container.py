"""The entrypoint of the desktop image: one desktop session per container, and a control port to restore it.

    python -m step_envs.providers.container --port 5000 --control-port 5001   (token in $STEP_ENVS_TOKEN)

It runs the same session as the local provider (Xvfb, D-Bus, xfwm4, panel, desktop, controller server) as the
unprivileged ``user`` (uid 62000) with OSWorld's home, ``/home/user``, and serves ``POST /restore`` (kill the apps,
close their windows, re-seed HOME, delete what the session user left in /tmp, /var/tmp and /dev/shm) and
``GET /health`` on the control port, with the same token. If the desktop dies the process exits, so the container
stops and the host sees it.

``--sudo`` (a container started with ``DockerProvider(sudo=True)``): before the session starts, the session user
gets the password ``password`` (OSWorld's VM password) and may run anything with ``sudo`` (a sudoers drop-in), as
OSWorld's VM user may. Without it the user has no password and no sudoers entry (and the Docker provider's
``no-new-privileges`` keeps setuid binaries from raising anyone).

``--fds-from PATH`` (a container without network): the controller's and the control port's listening sockets are
not bound here but fetched from the unix socket at PATH (the Docker provider made them in the host's network
namespace); the controller also listens on a free port of the container's own ``lo``, for the session's checks.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from step_envs.core import DEFAULT_SCREEN
from step_envs.providers.base import SESSION_PASSWORD, ProviderError
from step_envs.providers.local import LocalProvider
from step_envs.server import TOKEN_HEADER

WIPE_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
SESSION_USER = "user"
"""The image's session user (uid 62000), named as OSWorld's VM user is."""
SESSION_HOME = "/home/user"
"""The session's home: OSWorld's, which its tasks name inside their code."""
SUDOERS = Path("/etc/sudoers.d/step-gym-session")


def make_handler(provider: LocalProvider, token: str) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet: container logs stay readable
            pass

        def _reply(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if hmac.compare_digest(self.headers.get(TOKEN_HEADER, ""), token):
                return True
            self._reply(401, {"error": f"missing or wrong {TOKEN_HEADER} header"})
            return False

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path != "/health":
                self._reply(404, {"error": "not found"})
            elif self._authorized():
                self._reply(200 if provider.alive() else 503, {"alive": provider.alive(), "display": provider.display})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/restore":
                self._reply(404, {"error": "not found"})
                return
            if not self._authorized():
                return
            started = time.monotonic()
            with lock:
                try:
                    provider.restore()
                except (ProviderError, OSError) as exc:
                    self._reply(500, {"error": str(exc)})
                    return
            self._reply(200, {"ok": True, "elapsed": time.monotonic() - started})

    return Handler


def grant_sudo(user: str = SESSION_USER) -> None:
    """Give ``user`` the password :data:`SESSION_PASSWORD` and every command through ``sudo`` (run as root, before
    the session starts)."""
    if shutil.which("sudo") is None:
        raise SystemExit("step-gym: --sudo, but this image has no sudo: rebuild it (`step-envs image build`)")
    subprocess.run(["chpasswd"], input=f"{user}:{SESSION_PASSWORD}\n", text=True, check=True)
    try:
        socket.gethostbyname(socket.gethostname())
    except OSError:  # sudo looks its host up: a container without network has no entry for its own name
        with open("/etc/hosts", "a") as hosts:
            hosts.write(f"127.0.1.1 {socket.gethostname()}\n")
    SUDOERS.write_text(f"{user} ALL=(ALL:ALL) ALL\nDefaults:{user} lecture=never\n")
    SUDOERS.chmod(0o440)


def fetch_listening_sockets(path: str) -> tuple[int, int]:
    """The two listening sockets (controller, control port) the host sends over the unix socket at ``path``."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(path)
        _, fds, _, _ = socket.recv_fds(conn, 64, 2)
    if len(fds) != 2:
        raise SystemExit(f"step-gym: expected 2 listening sockets from {path}, got {len(fds)}")
    return fds[0], fds[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m step_envs.providers.container", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address both servers bind (0.0.0.0 in bridge mode)")
    parser.add_argument("--port", type=int, default=5000, help="the controller server's port")
    parser.add_argument("--control-port", type=int, default=5001, help="the restore/health port")
    parser.add_argument("--width", type=int, default=DEFAULT_SCREEN[0])
    parser.add_argument("--height", type=int, default=DEFAULT_SCREEN[1])
    parser.add_argument("--a11y", action="store_true", help="turn on AT-SPI for the session's apps")
    parser.add_argument("--no-panel", dest="panel", action="store_false", help="no Xfce panel")
    parser.add_argument("--no-desktop", dest="desktop", action="store_false", help="no xfdesktop (icons, wallpaper)")
    parser.add_argument("--no-app-profiles", dest="app_profiles", action="store_false",
                        help="no pre-warmed app profiles in the home (step_envs.providers.profiles)")
    parser.add_argument("--start-timeout", type=float, default=60.0)
    parser.add_argument("--fds-from", help="a unix socket that sends the controller's and control port's listening "
                                           "sockets (made in another network namespace)")
    parser.add_argument("--sudo", action="store_true", help="the session user may use sudo (password: "
                                                            f"{SESSION_PASSWORD})")
    args = parser.parse_args(argv)
    token = os.environ.get("STEP_ENVS_TOKEN", "")
    if not token:
        parser.error("set STEP_ENVS_TOKEN: the controller and control port need a token")

    if args.sudo:
        grant_sudo()
    controller_fd = control_sock = None
    if args.fds_from:
        controller_fd, control_fd = fetch_listening_sockets(args.fds_from)
        control_sock = socket.socket(fileno=control_fd)
    provider = LocalProvider(width=args.width, height=args.height, start_timeout=args.start_timeout,
                             a11y=args.a11y, panel=args.panel, desktop=args.desktop, server_host=args.host,
                             server_port=args.port, token=token, exclusive_user=True, wipe_dirs=WIPE_DIRS,
                             reaper=False, user=SESSION_USER, home=SESSION_HOME, server_fd=controller_fd,
                             app_profiles=args.app_profiles)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        provider.start()
    except ProviderError as exc:
        print(f"step-gym: the desktop did not start: {exc}", file=sys.stderr, flush=True)
        provider.stop()
        return 1
    if control_sock is None:
        control = ThreadingHTTPServer((args.host, args.control_port), make_handler(provider, token))
    else:
        control = ThreadingHTTPServer(control_sock.getsockname(), make_handler(provider, token),
                                      bind_and_activate=False)
        control.socket = control_sock
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print(f"step-gym: desktop {provider.display} ready, controller on port "
          f"{provider.endpoint.url.rsplit(':', 1)[1] if provider.endpoint else args.port}, control on "
          f"{control.server_address[1]}", flush=True)
    code = 0
    while not stop.wait(1.0):
        if not provider.processes_alive():
            print("step-gym: a session process died; exiting so the container stops", file=sys.stderr, flush=True)
            code = 1
            break
    with contextlib.suppress(Exception):
        control.shutdown()
    provider.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
