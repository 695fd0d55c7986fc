"""Emulator settings, and the android-env configuration they become.

``EmulatorSettings`` holds what android-env's ``EmulatorConfig`` needs (AVD, SDK, binaries, ports, headless,
snapshot); with all three ports set, android-env attaches to an emulator that is already running instead of
launching one (that is how the pool's emulator slots are used). android-env is imported only here, lazily.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SDK = "~/Android/Sdk"
# android-env needs a task proto; ours only names the episode: rewards and ends come from step-gym's tasks.
TASK_PROTO = 'id: "step_gym"\nname: "step-gym Android task"\ndescription: "rewards come from step_envs tasks"\n'


@dataclass(frozen=True)
class EmulatorSettings:
    avd_name: str = ""
    sdk_root: str = DEFAULT_SDK
    avd_home: str = "~/.android/avd"
    emulator_path: str = ""
    """Default: ``SDK/emulator/emulator``."""
    adb_path: str = ""
    """Default: ``SDK/platform-tools/adb``."""
    adb_server_port: int = 5037
    console_port: int = 0
    adb_port: int = 0
    grpc_port: int = 0
    headless: bool = True
    snapshot: str = ""
    """Snapshot loaded on every reset (android-env's load_state over gRPC); "" for none."""
    gpu_mode: str = "swiftshader_indirect"
    tmp_dir: str = "/tmp/android_env/simulator/"

    @classmethod
    def from_value(cls, value: EmulatorSettings | dict[str, Any] | None) -> EmulatorSettings:
        if value is None:
            return cls()
        if isinstance(value, EmulatorSettings):
            return value
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown emulator setting(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**value)

    @property
    def attach(self) -> bool:
        """True when the ports name an emulator that is already running."""
        return bool(self.console_port and self.adb_port and self.grpc_port)

    def sdk_path(self, *parts: str) -> str:
        return str(Path(os.path.expanduser(self.sdk_root), *parts))

    def resolved_emulator(self) -> str:
        return os.path.expanduser(self.emulator_path) if self.emulator_path else self.sdk_path("emulator", "emulator")

    def resolved_adb(self) -> str:
        return os.path.expanduser(self.adb_path) if self.adb_path else self.sdk_path("platform-tools", "adb")

    def validate(self) -> None:
        """Fail before android-env does, with what to do."""
        if not self.attach and not self.avd_name:
            raise ValueError("the emulator simulator needs avd_name=... (create one with avdmanager, see docs/android.md) "
                             "or console_port/adb_port/grpc_port of a running emulator")
        if self.attach and self.adb_port != self.console_port + 1:
            raise ValueError(f"adb_port must be console_port + 1 (the emulator's rule), got {self.console_port} "
                             f"and {self.adb_port}")
        for what, path in (("adb", self.resolved_adb()), ("emulator", self.resolved_emulator())):
            if (what == "adb" or not self.attach) and not os.access(path, os.X_OK):
                raise ValueError(f"{what} not found at {path}: install the Android SDK (see "
                                 f"docs/android.md) or pass sdk_root=... / {what}_path=...")


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
