"""Agent code in a container reaches no network by default, and the container holds almost no privilege.

A real listener on the host's 127.0.0.1, real containers of the slim image: with ``agent_network="none"`` nothing
in the container connects to it (nor to the env's own controller port on the host), with ``"host"`` it does.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from docker_support import require_docker

from step_envs.core import ResetError
from step_envs.providers.docker import CAP_DROP_ALL_BUT, DockerProvider
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop

CONNECT = """
import socket
for port in {ports}:
    try:
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
        print(port, 'connected')
    except OSError as exc:
        print(port, type(exc).__name__)
import os
print('interfaces', *sorted(os.listdir('/sys/class/net')))
"""


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[int, list[int]]]:
    """A TCP listener on the host's loopback; the list counts the connections it accepted."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[int] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


@pytest.fixture(scope="module")
def sealed() -> Iterator[DockerProvider]:
    require_docker("slim")
    provider = DockerProvider(variant="slim", panel=False, desktop=False)
    provider.start()
    yield provider
    provider.stop()


def test_the_container_drops_capabilities_and_network_keeping_its_limits(sealed: DockerProvider) -> None:
    sealed.container.reload()
    config = sealed.container.attrs["HostConfig"]
    assert config["NetworkMode"] == "none" and config["CapDrop"] == ["ALL"]
    assert sorted(config["CapAdd"]) == sorted(CAP_DROP_ALL_BUT)
    assert "no-new-privileges" in config["SecurityOpt"]
    assert config["Memory"] == 4 * 1024**3 and config["PidsLimit"] == 2048 and config["ShmSize"] == 512 * 1024**2
    status = ControllerClient(sealed.endpoint).execute(["grep", "-E", "^(CapEff|CapBnd|NoNewPrivs)", "/proc/self/status"])
    fields = dict(line.split(":\t") for line in status["output"].splitlines())
    assert int(fields["CapEff"], 16) == 0 and fields["NoNewPrivs"] == "1", fields
    sudo = ControllerClient(sealed.endpoint).execute("echo password | sudo -S id -u", shell=True)
    assert sudo["returncode"] != 0 and "no new privileges" in sudo["error"], sudo  # only sudo=True containers allow it


def test_agent_code_cannot_reach_a_host_loopback_listener(sealed: DockerProvider, listener) -> None:
    port, accepted = listener
    controller_port = int(sealed.endpoint.url.rsplit(":", 1)[1])
    client = ControllerClient(sealed.endpoint)
    result = client.act(CONNECT.format(ports=[port, controller_port]))
    assert result["status"] == "success", result
    lines = dict(line.split(" ", 1) for line in result["output"].splitlines())
    assert lines[str(port)] == "ConnectionRefusedError" and lines[str(controller_port)] == "ConnectionRefusedError"
    assert lines["interfaces"] == "lo", lines
    shell = client.execute(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected || echo refused"])
    assert shell["output"].strip().endswith("refused"), shell
    assert accepted == []
    # the env itself still works through the sockets made on the host
    assert client.act("pyautogui.moveTo(10, 10)")["status"] == "success"
    sealed.restore()
    assert client.screenshot().shape == (720, 1280, 3)


def test_agent_network_host_reaches_the_same_listener(listener) -> None:
    require_docker("slim")
    port, accepted = listener
    before = len(accepted)
    with DockerProvider(variant="slim", panel=False, desktop=False, agent_network="host") as provider:
        result = ControllerClient(provider.endpoint).act(CONNECT.format(ports=[port]))
        assert f"{port} connected" in result["output"], result
        assert provider.container.attrs["HostConfig"]["NetworkMode"] == "host"
    assert len(accepted) == before + 1


def test_agent_network_is_checked() -> None:
    with pytest.raises(ValueError, match="agent_network must be one of"):
        DockerProvider(agent_network="bridge")
    with pytest.raises(ValueError, match="agent_network='host'"):
        DockerProvider(network="bridge")


def test_resetting_host_sessions_leaves_the_containers_sessions_alone(sealed: DockerProvider) -> None:
    """A host session is reset by killing its user's processes, and each container's session processes show on
    the host with the image user's uid: that uid (62000) is outside the range the host's session users come from.
    With the image user at the first system uid (999, like the host's first session user), every host reset
    SIGKILLed the containers' desktops."""
    from step_envs.providers.local import LocalProvider

    sealed.container.reload()
    top = sealed.container.top(ps_args="-o pid,uid")
    uids = {int(row[1]) for row in top["Processes"]}
    assert uids - {0} == {62000}  # root (the container's own control) or the image user, never a system uid
    hosts = [LocalProvider(panel=False, desktop=False) for _ in range(2)]
    try:
        for host in hosts:
            host.start()
            host.restore()
            assert host._user is None or host._user.pw_uid not in uids, (host._user, uids)
        client = ControllerClient(sealed.endpoint)
        assert client.act("pyautogui.moveTo(20, 20)")["status"] == "success"
        assert client.screenshot().shape == (720, 1280, 3)
    finally:
        for host in hosts:
            host.stop()


def test_an_osworld_task_that_uses_the_network_gets_it_in_its_container(listener, tmp_path) -> None:
    """OSWorld's network steps mark a task; a docker env made for it gives its agent code the host network, and a
    sealed container refuses it with what to do (an env error, not a task failure)."""
    from step_envs.desktop.env import DesktopEnv
    from step_envs.tasks.osworld import check_osworld

    require_docker("slim")
    port, accepted = listener
    reach = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5).close()"
    data = {"id": "net-task", "instruction": "Browse.", "proxy": True,
            "config": [{"type": "execute", "parameters": {"command": ["python3", "-c", reach]}}],
            "evaluator": {"func": "exact_match", "result": {"type": "vm_command_line", "command": "echo x"},
                          "expected": {"type": "rule", "rules": {"expected": "x\n"}}}}
    task = check_osworld(data, tmp_path / "net-task.json").task
    assert task is not None and task.params["network"]
    lean = {"variant": "slim", "panel": False, "desktop": False}
    sealed = DesktopEnv(task=task, provider=DockerProvider(**lean))
    try:
        with pytest.raises(ResetError, match=r"provider_kwargs=\{'agent_network': 'host'\}"):
            sealed.reset()
    finally:
        sealed.close()
    before = len(accepted)
    env = DesktopEnv(task=task, provider="docker", provider_kwargs=lean)
    try:
        _, info = env.reset()
        assert "env_error" not in info, info
        assert env.provider.agent_network == "host" and len(accepted) > before
    finally:
        env.close()
