"""The Docker provider: one desktop per container, started and stopped through the Docker SDK.

The container runs the desktop image (``step-envs image build``): the same session as the local provider, as an
unprivileged user, plus a control port for restores. Networking is the host network by default (the controller
and control port on free 127.0.0.1 ports, the display picked free by Xvfb), or ``network="bridge"`` with both
ports published on 127.0.0.1 only. Every container carries labels (``step-gym=1``, owner pid and host, created
time); containers whose owner process is gone are removed the first time a provider starts in a process, and by
``step-envs docker gc``.

Resets: ``reset="restore"`` (default) asks the supervisor in the container to kill the apps, close their windows,
re-seed HOME and delete everything the session user wrote in /tmp, /var/tmp and /dev/shm; the session user
cannot write anywhere else, so that is clean (the tests check the container's writable layer with ``docker
diff``). ``reset="recreate"`` replaces the container instead, for images whose apps run as root.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from typing import Any

import requests

from step_envs.dockerutil import DockerUnavailable, docker_client
from step_envs.image import image_tag
from step_envs.providers.base import Endpoint, Provider, ProviderError
from step_envs.server import TOKEN_HEADER

LABEL = "step-gym"
OWNER_PID = "step-gym.owner-pid"
OWNER_HOST = "step-gym.owner-host"
CREATED = "step-gym.created"
NETWORKS = ("host", "bridge")
RESETS = ("restore", "recreate")
CONTAINER_PORT, CONTROL_PORT = 5000, 5001
_gc_done = False
_gc_lock = threading.Lock()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def step_gym_containers(client: Any) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": f"{LABEL}=1"}))


def gc(client: Any | None = None, everything: bool = False) -> list[str]:
    """Remove step-gym containers whose owner process (on this host) is gone; all of them with ``everything``.

    Returns the names removed."""
    client = client or docker_client()
    host, removed = socket.gethostname(), []
    for container in step_gym_containers(client):
        labels = container.labels
        owner = int(labels.get(OWNER_PID, "0") or 0)
        stale = labels.get(OWNER_HOST) == host and not _pid_alive(owner)
        if everything or stale:  # a live owner's containers, even exited ones, are its own to remove
            with contextlib.suppress(Exception):
                container.remove(force=True)
                removed.append(container.name)
    return removed


class DockerProvider(Provider):
    name = "docker"

    def __init__(self, width: int = 1280, height: int = 720, image: str | None = None, variant: str = "full",
                 network: str = "host", reset: str = "restore", mem_limit: str | None = "4g",
                 cpus: float | None = 2.0, shm_size: str = "512m", pids_limit: int = 2048,
                 start_timeout: float = 60.0, a11y: bool = False, panel: bool = True,
                 desktop: bool = True) -> None:
        """``mem_limit`` / ``cpus`` / ``pids_limit`` cap each container (None: no cap); ``shm_size`` is /dev/shm
        (Chromium needs more than Docker's 64 MB). ``panel`` / ``desktop``: the Xfce panel and xfdesktop, as in
        the local provider (without them an idle env needs less memory)."""
        if network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        self.width, self.height = width, height
        self.image = image or image_tag(variant)
        self.network, self.reset_mode = network, reset
        self.mem_limit, self.cpus, self.shm_size, self.pids_limit = mem_limit, cpus, shm_size, pids_limit
        self.start_timeout, self.a11y, self.panel, self.desktop = start_timeout, a11y, panel, desktop
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
        if self.network == "host":
            port, control = free_port(), free_port()
            command = ["--host", "127.0.0.1", "--port", str(port), "--control-port", str(control)]
            network: dict[str, Any] = {"network_mode": "host"}
        else:
            command = ["--host", "0.0.0.0", "--port", str(CONTAINER_PORT), "--control-port", str(CONTROL_PORT)]
            network = {"ports": {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", None),
                                 f"{CONTROL_PORT}/tcp": ("127.0.0.1", None)}}
        command += ["--width", str(self.width), "--height", str(self.height),
                    "--start-timeout", str(self.start_timeout)]
        command += [flag for flag, on in (("--a11y", self.a11y), ("--no-panel", not self.panel),
                                          ("--no-desktop", not self.desktop)) if on]
        # init=True: Docker's init is PID 1 and reaps the orphans an agent leaves (the supervisor does not)
        limits: dict[str, Any] = {"shm_size": self.shm_size, "pids_limit": self.pids_limit}
        if self.mem_limit:
            limits.update(mem_limit=self.mem_limit, memswap_limit=self.mem_limit)
        if self.cpus:
            limits["nano_cpus"] = int(self.cpus * 1e9)
        labels = {LABEL: "1", OWNER_PID: str(os.getpid()), OWNER_HOST: socket.gethostname(),
                  CREATED: str(int(time.time()))}
        name = f"step-gym-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.container = self.client.containers.run(
                self.image, command=command, name=name, detach=True, labels=labels, init=True,
                environment={"STEP_ENVS_TOKEN": self._token}, **network, **limits)
        except docker.errors.APIError as exc:
            hint = " (this engine has no bridge network: use network='host')" if self.network == "bridge" else ""
            raise ProviderError(f"could not start a container from {self.image}: {exc}{hint}") from exc
        if self.network == "host":
            url, self._control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{control}"
        else:
            self.container.reload()
            ports = self.container.attrs["NetworkSettings"]["Ports"]
            url = f"http://127.0.0.1:{ports[f'{CONTAINER_PORT}/tcp'][0]['HostPort']}"
            self._control = f"http://127.0.0.1:{ports[f'{CONTROL_PORT}/tcp'][0]['HostPort']}"
        self._wait_ready()
        self.endpoint = Endpoint(url=url, token=self._token, width=self.width, height=self.height)

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
