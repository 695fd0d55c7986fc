"""The wheel works outside a checkout: built from this repository and installed into a fresh virtual environment,
it carries the task files, the home skeleton and the image's build files, and, run from another directory, a
built-in task's solution scores 1.0 and `step-envs image build` assembles the same build context."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

RUN_TASK = """
import json, sys
import gymnasium as gym
import step_envs
from step_envs.docker import image
from step_envs.tasks import builtin_tasks

task = builtin_tasks()["os-create-folder"]
env = gym.make("step_envs/os-create-folder-v0")
try:
    obs, info = env.reset()
    assert "env_error" not in info, info
    for action in task.solution:
        obs, reward, terminated, truncated, info = env.step(action)
finally:
    env.close()
print(json.dumps({"package": step_envs.__file__, "tasks": len(builtin_tasks()), "reward": reward,
                  "reason": info.get("reason"), "requirements": sorted(image.image_requirements())}))
"""

CONTEXT = """
import hashlib, json, sys, tarfile, tempfile
from pathlib import Path
from step_envs.docker import image

image.wheel_dir = lambda log=print: Path(tempfile.mkdtemp())  # the dependency wheels are the same either way
with tarfile.open(fileobj=image.build_context("slim")) as tar:
    members = {m.name: hashlib.sha1(tar.extractfile(m).read()).hexdigest() for m in tar.getmembers()}
print(json.dumps(members))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding only the wheel; the dependencies come from this venv's site-packages (a `.pth` line),
    so nothing is downloaded and the checkout is not on the path."""
    root = tmp_path_factory.mktemp("wheel")
    for folder in (root, *root.parents):  # the session user runs the venv's python: every folder above it open
        if folder == Path("/tmp") or folder == Path("/"):
            break
        folder.chmod(folder.stat().st_mode | 0o755)
    # a build from the checkout reuses setuptools' build/lib, which keeps modules since moved or deleted (they
    # would ship in the wheel): start from none, as a clean clone does
    for stale in (REPO / "build" / "lib", *(REPO / "build").glob("bdist.*")):
        shutil.rmtree(stale, ignore_errors=True)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(root / "dist"), str(REPO)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((root / "dist").glob("step_gym-*.whl"))
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return python


def test_the_wheel_carries_the_package_data(installed: Path) -> None:
    wheel = next((installed.parents[2] / "dist").glob("step_gym-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("step_envs/data/tasks/desktop/os/os-create-folder.json", "step_envs/data/desktop/image/Dockerfile",
                 "step_envs/data/desktop/image/packages-slim.txt", "step_envs/data/desktop/apt-packages.txt",
                 "step_envs/py.typed"):
        assert name in names, name
    assert "step_envs/data/desktop/home/.config/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml" in names


@pytest.mark.desktop
@pytest.mark.timeout(600)
def test_a_builtin_task_runs_to_one_from_another_directory(installed: Path, tmp_path: Path) -> None:
    run = subprocess.run([str(installed), "-c", RUN_TASK], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(result["package"]).is_relative_to(installed.parents[1])  # the wheel's copy, not the checkout
    assert result["tasks"] > 0 and result["reward"] == 1.0, result
    from step_envs.docker import image

    assert result["requirements"] == sorted(image.image_requirements())  # from the wheel's metadata


def test_image_build_assembles_the_same_context_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    here = subprocess.run([sys.executable, "-c", CONTEXT], capture_output=True, text=True, cwd=REPO, timeout=120)
    there = subprocess.run([str(installed), "-c", CONTEXT], capture_output=True, text=True, cwd=tmp_path,
                           timeout=120)
    assert here.returncode == 0 and there.returncode == 0, here.stderr[-2000:] + there.stderr[-2000:]
    ours, theirs = json.loads(here.stdout), json.loads(there.stdout)
    assert "Dockerfile" in theirs and any(name.startswith("src/step_envs/data/desktop/home/") for name in theirs)
    assert theirs == ours  # the same bytes: the installed package builds the image a checkout builds
