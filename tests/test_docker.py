"""The Docker provider on a real engine and the real desktop image (built by `make test` before pytest runs).

Outside CI the tests skip when no engine answers or the image was not built; in CI (``CI`` set) that fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from docker_support import require_docker

from step_envs.docker.containers import LABEL, OWNER_PID, gc, step_gym_containers
from step_envs.docker.engine import DockerUnavailable, docker_client
from step_envs.docker.image import build_context, build_image, image_tag
from step_envs.providers.base import ProviderError
from step_envs.providers.docker import DockerProvider
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop
SLIM = image_tag("slim")


@pytest.fixture(scope="module")
def client():
    return require_docker("slim")


@pytest.fixture(scope="module")
def provider(client) -> Iterator[DockerProvider]:
    provider = DockerProvider(variant="slim")
    provider.start()
    yield provider
    provider.stop()


def _diff(provider: DockerProvider) -> set[str]:
    """The container's writable layer outside the session's HOME: paths added or changed since the image (logs
    aside). HOME itself is re-seeded from the skeleton on every restore (the desktop writes its own caches)."""
    return {entry["Path"] for entry in provider.container.diff() or []
            if not entry["Path"].endswith(".log") and "/home/" not in entry["Path"]}


def test_container_carries_labels_limits_and_answers(provider: DockerProvider) -> None:
    container = provider.container
    container.reload()
    assert container.labels[LABEL] == "1" and container.labels[OWNER_PID] == str(os.getpid())
    host_config = container.attrs["HostConfig"]
    assert host_config["Memory"] == 4 * 1024**3 and host_config["NanoCpus"] == 2 * 10**9
    assert host_config["NetworkMode"] == "none"  # agent_network="none": see test_isolation_docker.py
    client = ControllerClient(provider.endpoint)
    assert client.act("pyautogui.moveTo(20, 30)")["status"] == "success"
    assert client.screenshot().shape == (720, 1280, 3)
    # the agent's code runs unprivileged as OSWorld's `user` in OSWorld's home, and `python` is python3 (OSWorld's
    # client calls `python -c`)
    whoami = client.execute(["bash", "-c", "id -un; echo $HOME; python -c 'import sys; print(sys.version_info[0])'"])
    assert whoami["output"].split() == ["user", "/home/user", "3"], whoami


def test_restore_leaves_the_writable_layer_as_it_started(provider: DockerProvider) -> None:
    baseline = _diff(provider)
    client = ControllerClient(provider.endpoint)
    dirty = ("echo x > ~/Desktop/left.txt; mkdir -p /tmp/junk/a; echo y > /tmp/junk/a/f; echo z > /var/tmp/v; "
             "echo w > /dev/shm/s; (sleep 600 >/dev/null 2>&1 &); (xfce4-terminal >/dev/null 2>&1 &); sleep 1")
    client.execute(["bash", "-c", dirty])
    assert _diff(provider) - baseline, "the episode should have left traces"
    started = time.monotonic()
    provider.restore()
    elapsed = time.monotonic() - started
    assert _diff(provider) == baseline
    assert not [e for e in provider.container.diff() if "left.txt" in e["Path"]]
    listing = client.execute(["bash", "-c", "ls -A /dev/shm; pgrep -u user -x sleep || true; "
                                            "wmctrl -l | grep -c Terminal || true"])["output"].split()
    assert listing == ["0"], listing
    assert elapsed < 5, elapsed


def test_two_containers_get_distinct_ports_and_screens(provider: DockerProvider) -> None:
    second = DockerProvider(variant="slim")
    try:
        second.start()
        a, b = ControllerClient(provider.endpoint), ControllerClient(second.endpoint)
        assert provider.endpoint.url != second.endpoint.url
        a.act("pyautogui.moveTo(100, 100)")
        b.act("pyautogui.moveTo(300, 200)")
        assert a.execute(["xdotool", "getmouselocation"])["output"].startswith("x:100 y:100")
        assert b.execute(["xdotool", "getmouselocation"])["output"].startswith("x:300 y:200")
    finally:
        second.stop()


def test_stop_removes_the_container(client) -> None:
    provider = DockerProvider(variant="slim")
    provider.start()
    name = provider.container.name
    provider.stop()
    provider.stop()  # twice is fine
    assert name not in {c.name for c in step_gym_containers(client)}


def test_gc_removes_containers_of_dead_owners(client) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = client.containers.run(SLIM, entrypoint=["sleep", "300"], detach=True, network_mode="host",
                                  labels={LABEL: "1", OWNER_PID: str(dead.pid),
                                          "step-gym.owner-host": os.uname().nodename})
    try:
        assert stale.name in gc(client)
        assert stale.name not in {c.name for c in step_gym_containers(client)}
    finally:
        subprocess.run(["docker", "rm", "-f", stale.name], capture_output=True)


def test_a_container_that_does_not_come_up_is_a_provider_error_with_its_logs(client) -> None:
    provider = DockerProvider(variant="slim", width=0)  # Xvfb refuses a 0-wide screen
    with pytest.raises(ProviderError, match="exited during start") as excinfo:
        provider.start()
    assert "Xvfb" in str(excinfo.value)
    assert provider.container is None


def test_missing_image_says_how_to_build_it() -> None:
    require_docker("slim")
    with pytest.raises(ProviderError, match="step-envs image build"):
        DockerProvider(image="step-gym/desktop:no-such-tag").start()


def test_bridge_network_publishes_on_loopback_only(client) -> None:
    if not client.networks.list(names=["bridge"]):
        pytest.skip("this engine runs with --bridge=none (no bridge network): host networking only")
    provider = DockerProvider(variant="slim", network="bridge", agent_network="host")
    try:
        endpoint = provider.start()
        assert endpoint.url.startswith("http://127.0.0.1:")
        assert ControllerClient(endpoint).act("pyautogui.moveTo(5, 5)")["status"] == "success"
    finally:
        provider.stop()


def test_rebuild_without_change_is_a_cache_hit(client) -> None:
    first = build_context("slim").getvalue()
    assert build_context("slim").getvalue() == first  # deterministic context: same bytes
    build_image("slim", log=lambda line: None, client=client)  # up to date with this checkout (make test did it)
    result = build_image("slim", log=lambda line: None, client=client)
    assert result.cached, result
    assert result.seconds < 60


def test_recreate_reset_gives_a_fresh_container(client) -> None:
    provider = DockerProvider(variant="slim", reset="recreate")
    try:
        provider.start()
        first = provider.container.id
        provider.restore()
        assert provider.container.id != first and provider.alive()
    finally:
        provider.stop()


def test_engine_errors_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(DockerUnavailable, match="make docker"):
        docker_client(timeout=2)
