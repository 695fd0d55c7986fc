"""OSWorld's tasks that only a container runs: code that names OSWorld's home, ``/home/user``, and ``sudo``.

Real containers of the slim image, OSWorld task dicts through the loader, the env's own provider choice.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_support import require_docker

from step_envs.core import ResetError
from step_envs.desktop.env import DesktopEnv
from step_envs.providers.docker import DockerProvider
from step_envs.tasks.osworld import check_osworld

pytestmark = pytest.mark.desktop
LEAN = {"variant": "slim", "panel": False, "desktop": False}


def _task(tmp_path: Path, config: list[dict], check: str, expected: str):
    data = {"id": "t", "instruction": "x", "config": config,
            "evaluator": {"func": "exact_match", "result": {"type": "vm_command_line", "command": check, "shell": True},
                          "expected": {"type": "rule", "rules": {"expected": expected}}}}
    item = check_osworld(data, tmp_path / "t.json")
    assert item.task is not None, item.unsupported
    return item.task


def test_code_naming_osworld_home_runs_in_a_container_and_its_file_lands_in_home_user(tmp_path: Path) -> None:
    require_docker("slim")
    write = "open('/home/user/Desktop/made.txt', 'w').write('made by the task')"
    task = _task(tmp_path, [{"type": "execute", "parameters": {"command": ["python3", "-c", write]}}],
                 "cat ~/Desktop/made.txt", "made by the task")
    assert task.params["home"]
    env = DesktopEnv(task=task, provider="docker", provider_kwargs=LEAN)
    try:
        _, info = env.reset()
        assert "env_error" not in info, info
        found = env.client.execute(["bash", "-c", "id -un; echo $HOME; ls /home/user/Desktop"])["output"].split()
        assert found == ["user", "/home/user", "made.txt"], found
        *_, info = env.step("DONE")
        assert info["score"] == 1.0, info
        env.reset()  # the restore re-seeds the home: the task's setup writes the file again
        assert env.client.execute(["ls", "/home/user/Desktop"])["output"].split() == ["made.txt"]
    finally:
        env.close()


def test_sudo_in_a_tasks_setup_runs_in_a_sudo_container_that_each_reset_recreates(tmp_path: Path) -> None:
    """OSWorld pipes its VM password to ``sudo -S``; the placeholders are filled in as OSWorld's setup does."""
    require_docker("slim")
    setup = "echo {CLIENT_PASSWORD} | sudo -S sh -c 'echo {SCREEN_WIDTH_HALF} > /etc/step-gym-check'"
    task = _task(tmp_path, [{"type": "execute", "parameters": {"command": setup, "shell": True}}],
                 "stat -c %U /etc/step-gym-check; cat /etc/step-gym-check", "root\n640\n")
    assert task.params["sudo"]
    sealed = DesktopEnv(task=task, provider=DockerProvider(**LEAN))
    try:
        with pytest.raises(ResetError, match=r"provider_kwargs=\{'sudo': True\}"):
            sealed.reset()
        assert sealed.client is None
    finally:
        sealed.close()
    env = DesktopEnv(task=task, provider="docker", provider_kwargs=LEAN)
    try:
        _, info = env.reset()
        assert "env_error" not in info, info
        assert env.provider.sudo and env.provider.reset_mode == "recreate"
        first = env.provider.container.name
        *_, info = env.step("import subprocess\nsubprocess.run('echo password | sudo -S touch /etc/left-by-root', "
                            "shell=True, check=True)")
        assert info["action_error"] is None, info
        *_, info = env.step("DONE")
        assert info["score"] == 1.0, info
        _, info = env.reset()
        assert "env_error" not in info and env.provider.container.name != first, info
        assert env.client.execute(["ls", "/etc/left-by-root"])["returncode"] != 0
    finally:
        env.close()


def test_a_sudo_container_is_reset_by_recreating_it() -> None:
    with pytest.raises(ValueError, match="reset='recreate'"):
        DockerProvider(sudo=True, reset="restore")
