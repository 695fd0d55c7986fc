"""The Docker provider: one desktop per container, started and stopped through the Docker SDK.

The container runs the desktop image (``step-envs image build``): the same session as the local provider, as an
unprivileged user, plus a control port for restores.

Networking: ``agent_network="none"`` (default) gives the container no network at all (``network_mode="none"``:
only its own ``lo``), so agent code reaches neither the internet nor any service on the host's loopback. The
controller and control port still answer on 127.0.0.1 of the host: their listening sockets are made here, in the
host's network namespace, and handed to the supervisor in the container over a unix socket (``SCM_RIGHTS``); a
socket keeps the namespace it was made in. This needs no bridge and no capability. ``agent_network="host"`` (tasks
that need the internet) runs the container on the host network as before (the controller and control port on free
127.0.0.1 ports, the display picked free by Xvfb), or with ``network="bridge"`` both ports published on 127.0.0.1.

The session runs as ``user`` with OSWorld's home, ``/home/user`` (``fixed_home``), so OSWorld's task code that names
that path runs unchanged.

Privileges: every capability is dropped but the few the root supervisor needs to run the session as ``user`` and
clean up after it (``CAP_DROP_ALL_BUT``), ``no-new-privileges`` is set, and memory, CPU and pids are capped.
``sudo=True`` (OSWorld's tasks that run ``sudo``; its VM user has it) lets the session user become root in its
container instead: sudo with the password ``password``, Docker's default capabilities but ``NET_RAW`` (which, on the
host network, would let root read other sessions' loopback traffic), no ``no-new-privileges``; such a container is
recreated at every reset, since root can change what a restore does not put back. Every container carries labels
(``step-gym=1``, owner pid and host, created time); containers whose owner process is gone are removed the first
time a provider starts in a process, and by ``step-envs docker gc``.

Resets: ``reset="restore"`` (default) asks the supervisor in the container to kill the apps, close their windows,
re-seed HOME and delete everything the session user wrote in /tmp, /var/tmp and /dev/shm; the session user
cannot write anywhere else, so that is clean (the tests check the container's writable layer with ``docker
diff``). ``reset="recreate"`` replaces the container instead, for images whose apps run as root and for ``sudo``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from typing import Any

import requests

from step_envs.core import DEFAULT_SCREEN
from step_envs.docker.containers import gc, owner_labels
from step_envs.docker.engine import DockerUnavailable, docker_client
from step_envs.docker.image import image_tag
from step_envs.providers.base import Endpoint, Provider, ProviderError
from step_envs.providers.container import SESSION_HOME
from step_envs.server import TOKEN_HEADER

NETWORKS = ("host", "bridge")
AGENT_NETWORKS = ("none", "host")
# what the root supervisor needs: chown the home to the session user, write into it and chmod there, switch to that
# user, and kill its processes
CAP_DROP_ALL_BUT = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL")
# sudo=True: Docker's default set but NET_RAW (root with it on the host network could sniff other sessions' loopback)
SUDO_CAPS = (*CAP_DROP_ALL_BUT, "AUDIT_WRITE", "FSETID", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETPCAP",
             "SYS_CHROOT")
FDS_SOCKET = "/run/step-gym-fds.sock"
RESETS = ("restore", "recreate")
CONTAINER_PORT, CONTROL_PORT = 5000, 5001
_gc_done = False
_gc_lock = threading.Lock()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def _warn_no_snapshots() -> None:
    logging.getLogger(__name__).warning(
        "step-gym: reset_mode='snapshot' is not available in a container (CRIU needs privileges step-gym does not "
        "give one); the docker provider restarts apps at reset. The local provider takes snapshots "
        "(docs/providers.md)")


class DockerProvider(Provider):
    """A desktop in a container of the desktop image (this module's docstring): ``start`` runs it and waits
    for its controller, ``restore`` has its supervisor wipe the session (or replaces the container with
    ``reset="recreate"``), ``stop`` removes it. No network for agent code by default (``agent_network``).
    """

    name = "docker"
    fixed_home = SESSION_HOME

    def __init__(self, width: int = DEFAULT_SCREEN[0], height: int = DEFAULT_SCREEN[1], image: str | None = None,
                 variant: str = "full", network: str = "host", reset: str | None = None, mem_limit: str | None = "4g",
                 cpus: float | None = 2.0, shm_size: str = "512m", pids_limit: int = 2048,
                 start_timeout: float = 60.0, a11y: bool = False, panel: bool = True,
                 desktop: bool = True, agent_network: str = "none", sudo: bool = False,
                 app_profiles: bool = True, reset_mode: str = "restart") -> None:
        """``mem_limit`` / ``cpus`` / ``pids_limit`` cap each container (None: no cap); ``shm_size`` is /dev/shm
        (Chromium needs more than Docker's 64 MB). ``panel`` / ``desktop``: the Xfce panel and xfdesktop, as in
        the local provider (without them an idle env needs less memory). ``agent_network``: ``"none"`` (no network
        for anything in the container) or ``"host"`` (the container's ``network``: ``"host"`` or ``"bridge"``).
        ``sudo``: the session user may use sudo (see the module docstring); ``reset`` is then ``"recreate"``
        (default: ``"restore"`` without sudo).
        ``app_profiles``: pre-warmed app profiles in the session's home, as in the local provider.
        ``reset_mode``: only ``"restart"`` runs in a container: ``"snapshot"`` (CRIU) needs privileges a
        step-gym container is not given (CAP_SYS_ADMIN, CAP_CHECKPOINT_RESTORE); it warns once and restarts.
        Use the local provider for snapshot resets (docs/providers.md)."""
        if reset_mode not in ("restart", "snapshot"):
            raise ValueError(f"reset_mode must be 'restart' or 'snapshot', got {reset_mode!r}")
        if reset_mode == "snapshot":
            _warn_no_snapshots()
        self.reset_mode = "restart"
        if network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
        if agent_network not in AGENT_NETWORKS:
            raise ValueError(f"agent_network must be one of {AGENT_NETWORKS}, got {agent_network!r}")
        if agent_network == "none" and network != "host":
            raise ValueError(f"network={network!r} gives agent code a network; with agent_network='none' the "
                             "container has none: pass agent_network='host' with it")
        reset = reset or ("recreate" if sudo else "restore")
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        if sudo and reset != "recreate":
            raise ValueError(f"sudo=True lets agent code change the container as root, which reset={reset!r} does "
                             "not put back: a sudo container is reset by recreating it (reset='recreate')")
        self.width, self.height = width, height
        self.image = image or image_tag(variant)
        self.network, self.reset_mode, self.agent_network, self.sudo = network, reset, agent_network, sudo
        self.mem_limit, self.cpus, self.shm_size, self.pids_limit = mem_limit, cpus, shm_size, pids_limit
        self.start_timeout, self.a11y, self.panel, self.desktop = start_timeout, a11y, panel, desktop
        self.app_profiles = app_profiles
        self.container: Any = None
        self.endpoint: Endpoint | None = None
        self._control: str | None = None
        self._token = ""
        self._client: Any = None

    # --- lifecycle -------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                self._client = docker_client()
            except DockerUnavailable as exc:
                raise ProviderError(str(exc)) from exc
        return self._client

    def _collect_garbage_once(self) -> None:
        global _gc_done
        with _gc_lock:
            if not _gc_done:
                gc(self.client)
                _gc_done = True

    def start(self) -> Endpoint:
        if self.endpoint is not None:
            return self.endpoint
        import docker.errors

        self._collect_garbage_once()
        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound as exc:
            variant = " --variant slim" if self.image.endswith(":slim") else ""
            raise ProviderError(f"image {self.image} not found; build it with `step-envs image build{variant}` "
                                f"(`make images` builds both)") from exc
        try:
            self._run()
        except BaseException:
            self.stop()
            raise
        return self.endpoint  # type: ignore[return-value]

    def _run(self) -> None:
        import docker.errors

        self._token = secrets.token_urlsafe(24)
        handoff: tuple[socket.socket, socket.socket, socket.socket, str] | None = None
        if self.agent_network == "none":
            handoff = self._listening_sockets()
            port, control = (sock.getsockname()[1] for sock in handoff[:2])
            command = ["--host", "127.0.0.1", "--port", "0", "--fds-from", FDS_SOCKET]
            network: dict[str, Any] = {"network_mode": "none",
                                       "volumes": {handoff[3]: {"bind": FDS_SOCKET, "mode": "rw"}}}
        elif self.network == "host":
            port, control = free_port(), free_port()
            command = ["--host", "127.0.0.1", "--port", str(port), "--control-port", str(control)]
            network = {"network_mode": "host"}
        else:
            command = ["--host", "0.0.0.0", "--port", str(CONTAINER_PORT), "--control-port", str(CONTROL_PORT)]
            network = {"ports": {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", None),
                                 f"{CONTROL_PORT}/tcp": ("127.0.0.1", None)}}
        command += ["--width", str(self.width), "--height", str(self.height),
                    "--start-timeout", str(self.start_timeout)]
        command += [flag for flag, on in (("--a11y", self.a11y), ("--no-panel", not self.panel),
                                          ("--no-desktop", not self.desktop), ("--sudo", self.sudo),
                                          ("--no-app-profiles", not self.app_profiles)) if on]
        # init=True: Docker's init is PID 1 and reaps the orphans an agent leaves (the supervisor does not)
        limits: dict[str, Any] = {"shm_size": self.shm_size, "pids_limit": self.pids_limit}
        if self.mem_limit:
            limits.update(mem_limit=self.mem_limit, memswap_limit=self.mem_limit)
        if self.cpus:
            limits["nano_cpus"] = int(self.cpus * 1e9)
        labels = owner_labels()
        name = f"step-gym-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.container = self.client.containers.run(
                self.image, command=command, name=name, detach=True, labels=labels, init=True,
                environment={"STEP_ENVS_TOKEN": self._token}, cap_drop=["ALL"],
                cap_add=list(SUDO_CAPS if self.sudo else CAP_DROP_ALL_BUT),
                security_opt=[] if self.sudo else ["no-new-privileges"], **network, **limits)
            if handoff is not None:
                self._hand_over(*handoff)
        except docker.errors.APIError as exc:
            hint = " (this engine has no bridge network: use network='host')" if self.network == "bridge" else ""
            raise ProviderError(f"could not start a container from {self.image}: {exc}{hint}") from exc
        finally:
            if handoff is not None:
                for sock in handoff[:3]:
                    sock.close()
                shutil.rmtree(os.path.dirname(handoff[3]), ignore_errors=True)
        if self.network == "host" or handoff is not None:
            url, self._control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{control}"
        else:
            self.container.reload()
            ports = self.container.attrs["NetworkSettings"]["Ports"]
            url = f"http://127.0.0.1:{ports[f'{CONTAINER_PORT}/tcp'][0]['HostPort']}"
            self._control = f"http://127.0.0.1:{ports[f'{CONTROL_PORT}/tcp'][0]['HostPort']}"
        self._wait_ready()
        self.endpoint = Endpoint(url=url, token=self._token, width=self.width, height=self.height)

    def _listening_sockets(self) -> tuple[socket.socket, socket.socket, socket.socket, str]:
        """The controller's and the control port's listening sockets on the host's 127.0.0.1, and the unix socket
        (in a fresh 0700 directory) through which the container's supervisor fetches them."""
        listeners = []
        for _ in range(2):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            listeners.append(sock)
        path = os.path.join(tempfile.mkdtemp(prefix="step-gym-fds-"), "fds.sock")
        handoff = socket.socket(socket.AF_UNIX)
        handoff.bind(path)
        os.chmod(path, 0o666)  # the supervisor is root without DAC_OVERRIDE over a non-root caller's files
        handoff.listen(1)
        return listeners[0], listeners[1], handoff, path

    def _hand_over(self, controller: socket.socket, control: socket.socket, handoff: socket.socket, path: str) -> None:
        """Send both listening sockets to the first (and only) connection: the supervisor's, before any agent code
        runs; the unix socket is closed and removed right after."""
        handoff.settimeout(self.start_timeout)
        try:
            connection, _ = handoff.accept()
        except TimeoutError as exc:
            raise ProviderError(f"container {self.container.name} did not fetch its sockets within "
                                f"{self.start_timeout:g} s:\n{self.logs()}") from exc
        with connection:
            socket.send_fds(connection, [b"step-gym"], [controller.fileno(), control.fileno()])

    def _wait_ready(self) -> None:
        """Poll the control port's health route (it opens once the desktop is drawn); fail with the logs."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._control_ok("/health", timeout=1.0):
                return
            self.container.reload()
            if self.container.status in ("exited", "dead"):
                raise ProviderError(f"container {self.container.name} exited during start:\n{self.logs()}")
            time.sleep(0.02)
        raise ProviderError(f"container {self.container.name} not ready after {self.start_timeout:g} s:\n"
                            f"{self.logs()}")

    def _control_ok(self, path: str, timeout: float, method: str = "GET") -> bool:
        try:
            response = requests.request(method, f"{self._control}{path}", headers={TOKEN_HEADER: self._token},
                                        timeout=timeout)
        except requests.RequestException:
            return False
        return response.ok

    def logs(self, tail: int = 60) -> str:
        """The container's last log lines (the supervisor's and the session's start messages)."""
        if self.container is None:
            return ""
        with contextlib.suppress(Exception):
            return self.container.logs(tail=tail).decode(errors="replace")
        return ""

    def restore(self) -> None:
        if self.container is None:
            raise ProviderError("container not started")
        if self.reset_mode == "recreate":
            self._discard_container()
            self.endpoint = None
            self.start()
            return
        try:
            response = requests.post(f"{self._control}/restore", headers={TOKEN_HEADER: self._token}, timeout=60)
        except requests.RequestException as exc:
            raise ProviderError(f"container {self.container.name} did not answer the restore: {exc}\n"
                                f"{self.logs()}") from exc
        if not response.ok:
            raise ProviderError(f"restore failed in {self.container.name}: {response.text[:500]}")

    def alive(self) -> bool:
        if self.container is None or self.endpoint is None:
            return False
        try:
            self.container.reload()
        except Exception:
            return False
        return self.container.status == "running" and self._control_ok("/health", timeout=2.0)

    def memory_bytes(self) -> int:
        """The container's current memory use as its cgroup counts it, page cache excluded."""
        stats = self.container.stats(stream=False)["memory_stats"]
        cache = stats.get("stats", {}).get("inactive_file", stats.get("stats", {}).get("cache", 0))
        return int(stats.get("usage", 0)) - int(cache)

    def _discard_container(self) -> None:
        container, self.container = self.container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)

    def stop(self) -> None:
        self._discard_container()
        self.endpoint = None
        self._control = None
