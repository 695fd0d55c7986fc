"""The emulator provider without an emulator: ports, slot locks, AVD copies, the command line, and a full
start / restore / stop against stand-in ``emulator`` and ``adb`` executables spawned for real."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from step_envs.providers.adb import AdbError, SubprocessAdbRunner
from step_envs.providers.base import ProviderError
from step_envs.providers.emulator import EmulatorProvider, claim_slot, copy_avd, emulator_command, slot_ports

FAKE_EMULATOR = """#!{python}
import os, subprocess, sys, time
state = os.environ["FAKE_STATE"]
child = subprocess.Popen(["sleep", "600"])  # like qemu's helpers: must die with the emulator
with open(os.path.join(state, "emulator.pids"), "w") as out:
    out.write(f"{{os.getpid()}} {{child.pid}}\\n" + " ".join(sys.argv[1:]) + "\\n" + os.environ["ANDROID_AVD_HOME"])
time.sleep(600)
"""
FAKE_ADB = """#!{python}
import os, sys
state = {state!r}
args = sys.argv[1:]
while args and args[0] in ("-P", "-s"):
    args = args[2:]
with open(os.path.join(state, "adb.log"), "a") as log:
    log.write(" ".join(args) + "\\n")
snapshots = os.path.join(state, "snapshots")
line = " ".join(args)
if line == "shell getprop sys.boot_completed":
    print("1" if os.path.exists(os.path.join(state, "emulator.pids")) else "")
elif line == "shell wm size":
    print("Physical size: 1080x2400")
elif line == "get-state":
    print("device")
elif line == "emu avd snapshot list":
    print(open(snapshots).read() if os.path.exists(snapshots) else "There is no snapshot available.")
elif line.startswith("emu avd snapshot save "):
    open(snapshots, "w").write(args[-1]); print("OK")
elif line.startswith("emu avd snapshot load "):
    print("OK" if os.path.exists(snapshots) and args[-1] in open(snapshots).read() else "KO: no such snapshot")
elif line in ("root", "emu kill"):
    print("OK")
else:
    sys.exit(1)
"""


def make_avd(home: Path, name: str = "pixel") -> None:
    (home / f"{name}.avd").mkdir(parents=True)
    (home / f"{name}.avd" / "config.ini").write_text("AvdId=pixel\navd.ini.displayname=pixel\nhw.lcd.width=1080\n")
    (home / f"{name}.avd" / "userdata-qemu.img").write_bytes(b"\0" * 1024)
    (home / f"{name}.avd" / "multiinstance.lock").write_text("123")
    (home / f"{name}.ini").write_text(f"avd.ini.encoding=UTF-8\npath={home}/{name}.avd\npath.rel=avd/{name}.avd\n"
                                      "target=android-34\n")


def test_slot_ports_follow_the_emulator_numbering() -> None:
    assert slot_ports(0) == (5554, 5555, 8554)
    assert slot_ports(3) == (5560, 5561, 8557)
    with pytest.raises(ValueError):
        slot_ports(64)


def test_slots_are_claimed_once_across_holders_and_skip_ports_in_use(tmp_path: Path) -> None:
    first, lock = claim_slot(lock_dir=tmp_path)
    second, lock2 = claim_slot(lock_dir=tmp_path)
    assert second != first
    with pytest.raises(ProviderError, match="is taken"):
        claim_slot(first, lock_dir=tmp_path)
    lock.close()
    again, lock3 = claim_slot(first, lock_dir=tmp_path)
    assert again == first
    busy = socket.socket()
    busy.bind(("127.0.0.1", slot_ports(5)[1]))
    try:
        with pytest.raises(ProviderError, match="ports are in use"):
            claim_slot(5, lock_dir=tmp_path)
    finally:
        busy.close()
    lock2.close()
    lock3.close()


def test_avd_copy_points_at_itself_and_leaves_locks_behind(tmp_path: Path) -> None:
    make_avd(tmp_path / "avd")
    copied = copy_avd(tmp_path / "avd", "pixel", tmp_path / "slot-2", "pixel_slot2")
    assert copied == tmp_path / "slot-2" / "pixel_slot2.avd"
    ini = (tmp_path / "slot-2" / "pixel_slot2.ini").read_text()
    assert f"path={copied}\n" in ini and "path.rel=avd/pixel_slot2.avd" in ini and "target=android-34" in ini
    config = (copied / "config.ini").read_text()
    assert "AvdId=pixel_slot2" in config and "hw.lcd.width=1080" in config
    assert (copied / "userdata-qemu.img").stat().st_size == 1024 and not (copied / "multiinstance.lock").exists()
    assert "AvdId=pixel\n" in (tmp_path / "avd" / "pixel.avd" / "config.ini").read_text()  # source untouched
    with pytest.raises(ProviderError, match="no AVD 'tablet'.*found: pixel"):
        copy_avd(tmp_path / "avd", "tablet", tmp_path / "x", "tablet_slot0")


def test_emulator_command_line() -> None:
    assert emulator_command("/sdk/emulator/emulator", "pixel_slot1", 5556, 8555, snapshot="ready") == [
        "/sdk/emulator/emulator", "-avd", "pixel_slot1", "-ports", "5556,5557", "-grpc", "8555", "-gpu",
        "swiftshader_indirect", "-no-audio", "-no-boot-anim", "-no-snapshot-save", "-no-window", "-snapshot", "ready"]
    assert "-no-window" not in emulator_command("emu", "a", 5554, 8554, headless=False)


def test_subprocess_adb_runner_builds_the_command_and_reports_failures(tmp_path: Path) -> None:
    runner = SubprocessAdbRunner("/opt/adb", serial="emulator-5556", server_port=5038)
    assert runner.argv(["shell", "getprop"]) == ["/opt/adb", "-P", "5038", "-s", "emulator-5556", "shell", "getprop"]
    with pytest.raises(AdbError, match="adb not found"):
        SubprocessAdbRunner(str(tmp_path / "adb")).run(["devices"])
    failing = tmp_path / "failing-adb"
    failing.write_text("#!/bin/sh\necho 'error: device offline' >&2\nexit 3\n")
    failing.chmod(0o755)
    with pytest.raises(AdbError, match="exited with 3: error: device offline"):
        SubprocessAdbRunner(str(failing)).run(["shell", "true"])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def fake_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    for name, text in (("emulator/emulator", FAKE_EMULATOR), ("platform-tools/adb", FAKE_ADB)):
        path = tmp_path / "sdk" / name
        path.parent.mkdir(parents=True)
        path.write_text(text.format(python=sys.executable, state=str(state)))
        path.chmod(0o755)
    make_avd(tmp_path / "avd")
    monkeypatch.setenv("FAKE_STATE", str(state))
    return tmp_path


def test_provider_starts_restores_and_stops_leaving_no_emulator(fake_sdk: Path) -> None:
    provider = EmulatorProvider("pixel", sdk_root=str(fake_sdk / "sdk"), avd_home=str(fake_sdk / "avd"),
                                work_dir=str(fake_sdk / "work"), lock_dir=fake_sdk / "locks", boot_timeout=20,
                                stop_grace=0.5)
    endpoint = provider.start()
    try:
        assert (endpoint.width, endpoint.height) == (1080, 2400)
        console, adb_port, grpc = provider.ports
        assert adb_port == console + 1 and provider.serial == f"emulator-{console}"
        pids_line, argv, avd_home = (fake_sdk / "state" / "emulator.pids").read_text().splitlines()
        emulator_pid, child_pid = map(int, pids_line.split())
        assert f"-avd pixel_slot{provider.slot} -ports {console},{adb_port} -grpc {grpc}" in argv
        assert avd_home == str(fake_sdk / "work" / f"slot-{provider.slot}" / "avd")
        assert provider.alive()
        provider.restore()
        log = (fake_sdk / "state" / "adb.log").read_text().splitlines()
        assert "root" in log and "emu avd snapshot save step_gym_ready" in log
        assert log[-2:] == ["emu avd snapshot load step_gym_ready", "shell getprop sys.boot_completed"]
        settings = provider.attach_settings()
        assert (settings.console_port, settings.adb_port, settings.grpc_port) == provider.ports and settings.attach
    finally:
        provider.stop()
    deadline = time.monotonic() + 5
    while (_alive(emulator_pid) or _alive(child_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(emulator_pid) and not _alive(child_pid)
    assert "emu kill" in (fake_sdk / "state" / "adb.log").read_text()
    assert not provider.alive() and provider.endpoint is None
    provider.stop()  # twice is fine
    slot, lock = claim_slot(lock_dir=fake_sdk / "locks")  # the slot was released
    lock.close()


def test_start_failures_are_provider_errors_that_leave_nothing_running(fake_sdk: Path) -> None:
    (fake_sdk / "sdk" / "emulator" / "emulator").write_text(f"#!{sys.executable}\nprint('PANIC: no AVD')\n"
                                                           "raise SystemExit(1)\n")
    provider = EmulatorProvider("pixel", sdk_root=str(fake_sdk / "sdk"), avd_home=str(fake_sdk / "avd"),
                                work_dir=str(fake_sdk / "work"), lock_dir=fake_sdk / "locks", boot_timeout=20,
                                stop_grace=0.5)
    with pytest.raises(ProviderError, match="exited with 1.*PANIC: no AVD"):
        provider.start()
    assert provider.process is None and provider.endpoint is None
    wrong_size = EmulatorProvider("pixel", sdk_root=str(fake_sdk / "sdk"), avd_home=str(fake_sdk / "avd"),
                                  work_dir=str(fake_sdk / "work"), lock_dir=fake_sdk / "locks", stop_grace=0.2,
                                  width=720, height=1280)
    (fake_sdk / "sdk" / "emulator" / "emulator").write_text(FAKE_EMULATOR.format(python=sys.executable))
    with pytest.raises(ProviderError, match="screen is 1080x2400, not the 720x1280"):
        wrong_size.start()
    assert wrong_size.process is None
    with pytest.raises(ProviderError, match="needs avd_name"):
        EmulatorProvider(sdk_root=str(fake_sdk / "sdk"), lock_dir=fake_sdk / "locks").start()
