"""The android-env configuration an env's emulator settings become.

`EmulatorSettings` (AVD, SDK, binaries, ports, headless, snapshot) belongs to the emulator provider
(`step_envs.providers.emulator`), which launches emulators from it; with all three ports set, android-env attaches
to an emulator that is already running instead of launching one (that is how the pool's emulator slots are used).
android-env is imported only here, lazily.
"""

from __future__ import annotations

import os
from typing import Any

from step_envs.providers.emulator import EmulatorSettings

# android-env needs a task proto; ours only names the episode: rewards and ends come from step-gym's tasks.
TASK_PROTO = 'id: "step_gym"\nname: "step-gym Android task"\ndescription: "rewards come from step_envs tasks"\n'


def android_env_config(simulator: str, task_path: str, screen_size: tuple[int, int],
                       emulator: EmulatorSettings) -> Any:
    """The ``AndroidEnvConfig`` for ``simulator`` = "fake" (android-env's FakeSimulator) or "emulator"."""
    from android_env.components import config_classes as cc

    task = cc.FilesystemTaskConfig(path=task_path)
    if simulator == "fake":
        width, height = screen_size
        return cc.AndroidEnvConfig(task=task, simulator=cc.FakeSimulatorConfig(screen_dimensions=(height, width)))
    launcher = cc.EmulatorLauncherConfig(
        emulator_path=emulator.resolved_emulator(), android_sdk_root=emulator.sdk_path(),
        avd_name=emulator.avd_name, android_avd_home=os.path.expanduser(emulator.avd_home),
        snapshot_name=emulator.snapshot, run_headless=emulator.headless, gpu_mode=emulator.gpu_mode,
        tmp_dir=emulator.tmp_dir, adb_port=emulator.adb_port, emulator_console_port=emulator.console_port,
        grpc_port=emulator.grpc_port)
    adb = cc.AdbControllerConfig(adb_path=emulator.resolved_adb(), adb_server_port=emulator.adb_server_port)
    return cc.AndroidEnvConfig(task=task, simulator=cc.EmulatorConfig(emulator_launcher=launcher, adb_controller=adb))
