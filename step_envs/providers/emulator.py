"""The emulator provider: one Android emulator per pool slot.

Slot ``n`` owns console port ``5554 + 2n``, adb port ``5555 + 2n`` (the emulator's own numbering: serial
``emulator-<console>``) and gRPC port ``8554 + n``; a lock file claims the slot across processes. Each slot
runs its own copy of the AVD (one AVD cannot back two emulators). ``start`` launches the emulator headless and
waits until ``sys.boot_completed`` is 1, then saves the reset snapshot if the AVD has none; ``restore`` loads
that snapshot (``adb emu avd snapshot load``) and waits for boot-completed again; ``stop`` asks the emulator to
quit (``adb emu kill``) and kills its process group, so no emulator outlives the provider.

The AndroidEnv attaches to the running emulator through :meth:`EmulatorProvider.attach_settings`.
``width`` / ``height`` (what ``make_provider(name, width=..., height=...)`` passes) are checked against the
device's screen once it has booted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from step_envs.providers.adb import AdbError, SubprocessAdbRunner
from step_envs.providers.base import Endpoint, Provider, ProviderError
from step_envs.providers.procs import MARKER, kill_session

BASE_CONSOLE_PORT = 5554
BASE_GRPC_PORT = 8554
MAX_SLOTS = 64  # the emulator accepts console ports 5554-5682
LOCK_DIR = Path(tempfile.gettempdir()) / "step-gym-emulator-slots"
_SKIP_ON_COPY = shutil.ignore_patterns("*.lock", "hardware-qemu.ini", "tmpAdbCmds", "snapshot.lock.lock")


DEFAULT_SDK = "~/Android/Sdk"


@dataclass(frozen=True)
class EmulatorSettings:
    """How to launch an emulator, or reach one that runs: what android-env's ``EmulatorConfig`` needs."""

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


def slot_ports(slot: int) -> tuple[int, int, int]:
    """(console, adb, grpc) ports of a slot."""
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot must be in 0-{MAX_SLOTS - 1}, got {slot}")
    console = BASE_CONSOLE_PORT + 2 * slot
    return console, console + 1, BASE_GRPC_PORT + slot


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def claim_slot(slot: int | None = None, lock_dir: Path = LOCK_DIR) -> tuple[int, IO[str]]:
    """Claim a slot (the given one, or the first whose lock and ports are free); returns it and its held lock.

    The lock (``flock`` on ``lock_dir/slot-N.lock``) holds for as long as the returned file stays open, in this
    process or any other, and goes away with the process, so a crashed run never leaves a slot taken.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    for candidate in ([slot] if slot is not None else range(MAX_SLOTS)):
        handle = open(lock_dir / f"slot-{candidate}.lock", "w")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        if all(port_free(port) for port in slot_ports(candidate)):
            handle.write(str(os.getpid()))
            handle.flush()
            return candidate, handle
        handle.close()
    which = f"slot {slot}" if slot is not None else f"any of the {MAX_SLOTS} slots"
    raise ProviderError(f"{which} is taken (its lock is held or its ports are in use); stop the emulators you "
                        "no longer need (`adb devices`, `adb -s emulator-PORT emu kill`)")


def copy_avd(avd_home: Path, name: str, target_home: Path, copy_name: str) -> Path:
    """Copy AVD ``name`` from ``avd_home`` as ``copy_name`` under ``target_home``; returns the copy's .avd dir.

    An AVD is ``NAME.ini`` (which points at ``NAME.avd/``) plus that directory; the copy's ini points at the
    copy, and its ``config.ini`` carries the new name. Lock files and the emulator's generated hardware file
    are left behind (the emulator writes fresh ones).
    """
    source_ini, source_dir = avd_home / f"{name}.ini", avd_home / f"{name}.avd"
    if not source_ini.is_file() or not source_dir.is_dir():
        known = sorted(path.stem for path in avd_home.glob("*.ini")) if avd_home.is_dir() else []
        raise ProviderError(f"no AVD {name!r} in {avd_home} (found: {', '.join(known) or 'none'}); create one "
                            "with avdmanager (see docs/android.md)")
    target_home.mkdir(parents=True, exist_ok=True)
    target_dir = target_home / f"{copy_name}.avd"
    shutil.rmtree(target_dir, ignore_errors=True)
    shutil.copytree(source_dir, target_dir, ignore=_SKIP_ON_COPY, symlinks=True)
    ini = _rewrite_ini(source_ini.read_text(), {"path": str(target_dir), "path.rel": f"avd/{copy_name}.avd"})
    (target_home / f"{copy_name}.ini").write_text(ini)
    config = target_dir / "config.ini"
    if config.is_file():
        config.write_text(_rewrite_ini(config.read_text(), {"AvdId": copy_name, "avd.ini.displayname": copy_name}))
    return target_dir


def _rewrite_ini(text: str, values: dict[str, str]) -> str:
    """Set ``key=value`` lines (replacing existing ones, appending the missing)."""
    lines, seen = [], set()
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if key in values:
            lines.append(f"{key}={values[key]}")
            seen.add(key)
        else:
            lines.append(line)
    lines += [f"{key}={value}" for key, value in values.items() if key not in seen]
    return "\n".join(lines) + "\n"


def emulator_command(emulator_path: str, avd: str, console_port: int, grpc_port: int, *, headless: bool = True,
                     gpu_mode: str = "swiftshader_indirect", snapshot: str = "",
                     extra_args: tuple[str, ...] = ()) -> list[str]:
    """The emulator's command line for one slot."""
    argv = [emulator_path, "-avd", avd, "-ports", f"{console_port},{console_port + 1}", "-grpc", str(grpc_port),
            "-gpu", gpu_mode, "-no-audio", "-no-boot-anim", "-no-snapshot-save"]
    if headless:
        argv.append("-no-window")
    if snapshot:
        argv += ["-snapshot", snapshot]
    return argv + list(extra_args)


class EmulatorProvider(Provider):
    """One Android emulator on a slot of its own (ports, AVD copy, lock; this module's docstring):
    ``start`` boots it and saves the reset snapshot, ``restore`` loads that snapshot, ``stop`` ends it and frees
    the slot. ``avd_name`` is required; ``attach_ports`` attaches to an emulator already running instead.
    """

    name = "emulator"

    def __init__(self, avd_name: str = "", *, slot: int | None = None, sdk_root: str = DEFAULT_SDK,
                 avd_home: str = "~/.android/avd", emulator_path: str = "", adb_path: str = "",
                 adb_server_port: int = 5037, headless: bool = True, snapshot: str = "step_gym_ready",
                 gpu_mode: str = "swiftshader_indirect", work_dir: str | None = None, boot_timeout: float = 600.0,
                 root: bool = True, attach_ports: tuple[int, int, int] | None = None,
                 extra_args: tuple[str, ...] = (), lock_dir: Path = LOCK_DIR, stop_grace: float = 10.0,
                 width: int | None = None, height: int | None = None) -> None:
        self.settings = EmulatorSettings(avd_name=avd_name, sdk_root=sdk_root, avd_home=avd_home,
                                         emulator_path=emulator_path, adb_path=adb_path,
                                         adb_server_port=adb_server_port, headless=headless, gpu_mode=gpu_mode)
        self.requested_slot, self.snapshot, self.root = slot, snapshot, root
        self.boot_timeout, self.extra_args, self.lock_dir = boot_timeout, tuple(extra_args), lock_dir
        self.attach_ports, self.stop_grace = attach_ports, stop_grace
        self.expected_size = (width, height) if width and height else None
        self.work_dir = Path(os.path.expanduser(work_dir or "~/.cache/step-gym/emulators"))
        self.session_id = secrets.token_hex(8)
        self.slot: int | None = None
        self.ports: tuple[int, int, int] | None = None
        self.endpoint: Endpoint | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None
        self._log_path: Path | None = None

    # --- what the env needs ----------------------------------------------------------------------------

    @property
    def serial(self) -> str:
        if self.ports is None:
            raise ProviderError("the emulator is not started")
        return f"emulator-{self.ports[0]}"

    def adb(self, timeout: float = 30.0) -> SubprocessAdbRunner:
        return SubprocessAdbRunner(self.settings.resolved_adb(), self.serial, self.settings.adb_server_port, timeout)

    def attach_settings(self) -> EmulatorSettings:
        """Settings that make android-env attach to this slot's running emulator (no second launch)."""
        if self.ports is None:
            raise ProviderError("the emulator is not started")
        console, adb_port, grpc = self.ports
        return dataclasses.replace(self.settings, console_port=console, adb_port=adb_port, grpc_port=grpc)

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Endpoint:
        if self.endpoint is not None:
            return self.endpoint
        try:
            if self.attach_ports is not None:
                self.ports = self.attach_ports
            else:
                self.slot, self._lock = claim_slot(self.requested_slot, self.lock_dir)
                self.ports = slot_ports(self.slot)
                self._launch()
            self._wait_booted()
            if self.root and self.attach_ports is None:
                self._adb_root()
            self._ensure_snapshot()
            width, height = self._screen_size()
            if self.expected_size not in (None, (width, height)):
                raise ProviderError(f"the emulator's screen is {width}x{height}, not the {self.expected_size[0]}x"
                                    f"{self.expected_size[1]} asked for; make the AVD with that size or ask for "
                                    f"width={width}, height={height}")
        except BaseException:
            self.stop()
            raise
        self.endpoint = Endpoint(url=f"adb://{self.serial}?grpc={self.ports[2]}", token=None, width=width,
                                 height=height)
        return self.endpoint

    def _launch(self) -> None:
        assert self.slot is not None and self.ports is not None
        if not self.settings.avd_name:
            raise ProviderError("the emulator provider needs avd_name=... (an AVD created with avdmanager)")
        emulator = self.settings.resolved_emulator()
        if not os.access(emulator, os.X_OK):
            raise ProviderError(f"emulator not found at {emulator}: install it with sdkmanager (see "
                                "docs/android.md) or pass sdk_root=... / emulator_path=...")
        slot_home = self.work_dir / f"slot-{self.slot}"
        copy_name = f"{self.settings.avd_name}_slot{self.slot}"
        copy_avd(Path(os.path.expanduser(self.settings.avd_home)), self.settings.avd_name, slot_home / "avd",
                 copy_name)
        argv = emulator_command(emulator, copy_name, self.ports[0], self.ports[2], headless=self.settings.headless,
                                gpu_mode=self.settings.gpu_mode, snapshot=self.snapshot, extra_args=self.extra_args)
        env = {**os.environ, "ANDROID_AVD_HOME": str(slot_home / "avd"), "ANDROID_SDK_ROOT": self.settings.sdk_path(),
               MARKER: self.session_id}
        self._log_path = slot_home / "emulator.log"
        with open(self._log_path, "wb") as log:
            try:
                self.process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                raise ProviderError(f"could not start the emulator ({emulator}): {exc}") from exc

    def _log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError, TypeError):
            return self._log_path.read_text(errors="replace")[-chars:]  # type: ignore[union-attr]
        return ""

    def _wait_booted(self) -> None:
        """Until ``getprop sys.boot_completed`` prints 1; fails early if the emulator exits."""
        adb, deadline = self.adb(timeout=10.0), time.monotonic() + self.boot_timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise ProviderError(f"the emulator exited with {self.process.returncode}: {self._log_tail()}")
            with contextlib.suppress(AdbError):
                if adb.run(["shell", "getprop", "sys.boot_completed"]).strip() == b"1":
                    return
            if time.monotonic() > deadline:
                raise ProviderError(f"{self.serial} did not finish booting within {self.boot_timeout:g} s: "
                                    f"{self._log_tail()}")
            time.sleep(0.5)

    def _adb_root(self) -> None:
        """Restart adbd as root (app databases are read by pulling them); then wait until it answers again."""
        with contextlib.suppress(AdbError):
            self.adb().run(["root"])
        self._wait_booted()

    def _console(self, *args: str) -> str:
        """An emulator console command through adb (``adb emu ...``)."""
        try:
            return self.adb(timeout=120.0).run(["emu", *args]).decode("utf-8", errors="replace")
        except AdbError as exc:
            raise ProviderError(f"emulator console `{' '.join(args)}` failed: {exc}") from exc

    def _ensure_snapshot(self) -> None:
        """Save the reset snapshot right after the first boot when the AVD copy does not have it yet."""
        if self.snapshot and self.snapshot not in self._console("avd", "snapshot", "list"):
            reply = self._console("avd", "snapshot", "save", self.snapshot)
            if "OK" not in reply:
                raise ProviderError(f"could not save snapshot {self.snapshot!r}: {reply.strip()}")

    def _screen_size(self) -> tuple[int, int]:
        try:
            output = self.adb().run(["shell", "wm", "size"]).decode()
        except AdbError as exc:
            raise ProviderError(f"could not read the screen size: {exc}") from exc
        sizes = re.findall(r"(\d+)x(\d+)", output)  # "Physical size: WxH", then "Override size: WxH" if set
        if not sizes:
            raise ProviderError(f"`wm size` printed {output!r}")
        return int(sizes[-1][0]), int(sizes[-1][1])

    def restore(self) -> None:
        """Load the reset snapshot and wait until the device reports boot completed."""
        if self.endpoint is None:
            raise ProviderError("the emulator is not started")
        if not self.snapshot:
            raise ProviderError("no reset snapshot: pass snapshot=... (the provider saves it after the first boot)")
        reply = self._console("avd", "snapshot", "load", self.snapshot)
        if "OK" not in reply:
            raise ProviderError(f"could not load snapshot {self.snapshot!r}: {reply.strip()}")
        self._wait_booted()

    def alive(self) -> bool:
        if self.endpoint is None or (self.process is not None and self.process.poll() is not None):
            return False
        try:
            return self.adb(timeout=5.0).run(["get-state"]).strip() == b"device"
        except (AdbError, ProviderError):
            return False

    def stop(self) -> None:
        """Ask the emulator to quit (``stop_grace`` seconds), then end its whole process group; release the slot.
        Safe to call twice."""
        if self.process is not None:
            if self.process.poll() is None and self.ports is not None:
                with contextlib.suppress(AdbError):
                    self.adb(timeout=5.0).run(["emu", "kill"])
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=self.stop_grace)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)  # qemu children too
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            kill_session(self.session_id, grace_s=1.0)  # anything that left the group
            self.process = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self.endpoint = None
        self.ports = None
        self.slot = None
