"""The built-in tasks in containers (the full image), and the accessibility tree of a real LibreOffice window.

The same DesktopEnv and task files as on the local provider: only ``provider="docker"`` differs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

# The built-in task tests themselves, collected here a second time: in this module their `env` fixture is a
# DesktopEnv on the docker provider.
from docker_support import require_docker
from test_tasks_builtin import test_doing_nothing_then_done_scores_zero, test_solution_scores_one  # noqa: F401

from step_envs.desktop.env import DesktopEnv
from step_envs.providers.docker import DockerProvider
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop


@pytest.fixture(scope="module", autouse=True)
def _image() -> None:
    require_docker("full")


@pytest.fixture(scope="module")
def env() -> Iterator[DesktopEnv]:
    env = DesktopEnv(provider="docker", max_steps=30)
    yield env
    env.close()


def test_a11y_tree_of_libreoffice_calc_has_cells_and_menus() -> None:
    provider = DockerProvider(a11y=True)
    try:
        client = ControllerClient(provider.start())
        client.launch(["libreoffice", "--calc"])
        deadline = time.monotonic() + 90
        tree = ""
        while time.monotonic() < deadline:
            tree = client.accessibility_tree(timeout=15)
            if re.search(r'<table-cell [^>]*name="A1"', tree) and "<menu " in tree:
                break
            time.sleep(1)
        assert re.search(r'<table-cell [^>]*name="A1"', tree), tree[:3000]
        assert re.search(r'<menu [^>]*name="File"', tree), tree[:3000]
        assert re.search(r'cp:screencoord="\(\d+, \d+\)"', tree)
        assert tree.startswith("<desktop-frame")
    finally:
        provider.stop()
