"""The local provider: one desktop session on this host, no container.

Xvfb on a free display (``-displayfd``, ``-nolisten tcp``, a fresh MIT cookie in ``~/.Xauthority``), a session
D-Bus, xfwm4, the Xfce panel, Ubuntu's ctrl+alt+t and super shortcuts (`step_envs.server.shortcuts`), and the
controller server on a free 127.0.0.1 port. OSWorld's command names (``google-chrome``, ``nautilus``, ...) resolve
through stand-ins in step_envs/data/desktop/bin; commands that need systemd, which a session has not
(``timedatectl``), through stand-ins in step_envs/data/desktop/overrides, which come before the system's on PATH.
``HOME`` is a fresh directory per session, named ``user`` like the container's ``/home/user``; the session's
processes start in it.

Isolation (as root): every session runs as its own unprivileged user, taken from a pool of system accounts
``step-gym-0``, ``step-gym-1``, ... (created on first use, held with a lock file under /run/step-gym for as long as
the session lives). Real accounts rather than bare uids: apps, ``id -un`` and Python's ``getpass`` expect a passwd
entry. So a session's processes can signal only their own session, its directory and home (0700) are closed to
every other session, and the controller's token reaches the server through a pipe, never a file. Each session
also gets a private ``/dev/shm`` (its own size-capped tmpfs, in a mount namespace) and a cap on its number of
processes (``RLIMIT_NPROC``, per uid, so a fork bomb stops there). Not root: the session runs as the caller, with
none of this isolation (a warning says so); see docs/security.md.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import itertools
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from step_envs.core import DEFAULT_SCREEN
from step_envs.providers import criu, pidns, profiles
from step_envs.providers.base import Endpoint, Provider, ProviderError
from step_envs.providers.procs import MARKER, kill_pids, kill_session, kill_user, session_pids, user_pids
from step_envs.server import TOKEN_HEADER, app_ports

USER_POOL_PREFIX = "step-gym-"
USER_LOCKS = Path("/run/step-gym/users")
# shared dirs any user may write: what a session's user leaves there is deleted on restore
SHARED_TMP_DIRS = ("/tmp", "/var/tmp")
# sticky, root-owned socket dirs, made before any session user could create (and so own) them
SOCKET_DIRS = ("/tmp/.X11-unix", "/tmp/.ICE-unix")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Xauthority families: a local (unix socket) display on this host, and any address (what the server file holds)
FAMILY_LOCAL, FAMILY_WILD = 256, 65535
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
HOME_SKELETON = PACKAGE_ROOT / "step_envs" / "data" / "desktop" / "home"
# stand-ins for the command names OSWorld's tasks use (google-chrome, nautilus, gnome-terminal, code), last on PATH
STAND_INS = PACKAGE_ROOT / "step_envs" / "data" / "desktop" / "bin"
# stand-ins for commands the host has but that cannot work in a session without systemd (timedatectl), first on PATH
OVERRIDES = PACKAGE_ROOT / "step_envs" / "data" / "desktop" / "overrides"
# what daemons an app started keep in the session's runtime dir ($XDG_RUNTIME_DIR), removed with them at restore:
# PulseAudio's socket and pid file, which would send the next episode's first sound client (VLC, through ALSA's pulse
# hook) to autospawn a daemon and wait for it forever (VLC blocks SIGCHLD); `code`'s server pid and port (its
# step-gym-code), which a relaunch would otherwise trust
STALE_RUNTIME = ("pulse", "step-gym-code")
RESET_MODES = ("restart", "snapshot")
# where snapshot images go (root only): $STEP_ENVS_SNAPSHOT_DIR, or this
SNAPSHOT_DIR = Path("/var/lib/step-gym/snapshots")
SNAPSHOT_DISPLAY_BASE = 2000  # snapshot mode: the display is :(this + the session user's uid), see _start_session
APP_PORT_BASE = 20000
"""A local session's ports for apps' fixed ones (Chrome's DevTools, 9222 and 1337; VLC's web interface, 8080): this
plus three times its user's uid modulo 3000, and the next two (below Linux's ephemeral ports), so two live sessions
never share one and a restored snapshot finds its own; a session without a user of its own takes free ports.
:mod:`step_envs.server.app_ports` says how the session uses them."""
_live: weakref.WeakSet[LocalProvider] = weakref.WeakSet()
_useradd_lock = threading.Lock()
log = logging.getLogger(__name__)


def _stop_all() -> None:
    for provider in list(_live):
        provider.stop()


def _on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)  # SystemExit runs atexit, which stops every live session


def _install_shutdown_hooks() -> None:
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
            signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


def _account(name: str) -> pwd.struct_passwd:
    """The system account ``name``, created (with its own group, no home) if missing. Concurrent creators (other
    processes' pools) may hold /etc/passwd's lock for a moment: retried for a few seconds."""
    with _useradd_lock:
        error = ""
        for _ in range(50):
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
            proc = subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/bin/bash",
                                   name], capture_output=True, text=True)
            error = proc.stderr.strip()
            time.sleep(0.1)
    raise ProviderError(f"could not create the session user {name}: {error}")


def claim_session_user(prefix: str = USER_POOL_PREFIX) -> tuple[pwd.struct_passwd, int]:
    """The first account ``<prefix>N`` no live session holds, and the open lock file that holds it.

    The lock is an ``flock`` on ``/run/step-gym/users/<name>.lock``: held while the fd is open (by the provider
    and its reaper), released by the kernel when both are gone, however they died. Whatever a dead holder left
    running as that user is killed here, so a claimed account starts with no process."""
    USER_LOCKS.mkdir(mode=0o700, parents=True, exist_ok=True)
    for index in itertools.count():
        name = f"{prefix}{index}"
        fd = os.open(USER_LOCKS / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            user = _account(name)
        except BaseException:
            os.close(fd)
            raise
        kill_user(user.pw_uid)
        return user, fd
    raise AssertionError("unreachable")


def _operation(method: Callable[..., Any]) -> Callable[..., Any]:
    """A dump or restore: while it runs, ``alive()`` answers True (the tree is down for a moment on purpose, and
    a pool's health monitor must not condemn the env for it)."""
    @functools.wraps(method)
    def run(self: LocalProvider, *args: Any, **kwargs: Any) -> Any:
        self._operating += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self._operating -= 1
    return run


@functools.cache
def _warn_no_snapshots(why: str) -> None:
    log.warning("step-gym: reset_mode='snapshot' is not available here (%s): sessions reset by restarting their "
                "apps instead (docs/providers.md)", why)


@functools.cache
def _warn_unisolated() -> None:
    log.warning("step-gym: not root, so local sessions run as you, unisolated: an agent's actions can read and "
                "change your files and other sessions' files and tokens, and signal their processes. Run as root, "
                "or use the docker provider, for a user per session (docs/security.md).")


def xauth_entry(family: int, address: bytes, display: bytes, cookie: bytes) -> bytes:
    """One Xauthority record (the format libXau and python-xlib read): big-endian ``family``, then ``address``,
    display number, ``MIT-MAGIC-COOKIE-1`` and the cookie, each as a 2-byte length and the bytes."""
    fields = (address, display, b"MIT-MAGIC-COOKIE-1", cookie)
    return struct.pack(">H", family) + b"".join(struct.pack(">H", len(field)) + field for field in fields)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class LocalProvider(Provider):
    """A desktop session on this host (this module's docstring): Xvfb, the window manager and panel, and the
    controller server, as a user of its own when run as root; ``restore`` gives the session a fresh home and
    kills what the last episode left running.
    """

    name = "local"

    def __init__(self, width: int = DEFAULT_SCREEN[0], height: int = DEFAULT_SCREEN[1], run_as_user: bool = True,
                 start_timeout: float = 30.0, panel: bool = True, desktop: bool = True, a11y: bool = False,
                 server_host: str = "127.0.0.1", server_port: int = 0, token: str | None = None,
                 exclusive_user: bool = False, wipe_dirs: tuple[str, ...] = (), reaper: bool = True,
                 user: str | None = None, pids_limit: int | None = 2048, private_shm: str | None = "512m",
                 private_tmp: bool = True,
                 server_fd: int | None = None, home: str | None = None, app_profiles: bool = True,
                 reset_mode: str = "restart", snapshot_limit: int = 8) -> None:
        """``a11y`` turns on AT-SPI for the session's apps (for ``/accessibility``; apps start slower).
        ``server_host`` / ``server_port`` / ``token``: where the controller listens and its token (a free
        127.0.0.1 port and a fresh token by default). ``exclusive_user``: this is the only session of its user
        (a container): every process of that user belongs to it, which matters where the environment marker
        cannot be read (without CAP_SYS_PTRACE, root cannot read another user's /proc/PID/environ).
        ``wipe_dirs``: shared directories (``/tmp``, ...) from which ``restore()`` deletes everything the session
        user wrote; needs ``exclusive_user``. ``reaper``: a watchdog process that cleans up if this process is
        SIGKILLed (a container needs none: its processes die with it).

        Isolation, as root with ``run_as_user``: ``user=None`` claims a user of its own from the pool (see the
        module docstring; implies ``exclusive_user`` and wipes /tmp and /var/tmp); ``user="name"`` runs as that
        existing account instead (the container's ``user``). ``pids_limit``: ``RLIMIT_NPROC`` of the session's
        processes (counted per uid, so only with a user of its own). ``private_shm``: the size of the session's
        own /dev/shm (None: the host's, and no mount namespace). ``private_tmp``: the session's own /tmp too (in
        the same namespace; what it writes there never reaches the host's /tmp). ``server_fd``: a listening socket the controller serves as well, e.g. one
        made in another network namespace (the Docker provider's, for a container without network).
        ``app_profiles``: seed the home with pre-warmed app profiles (`step_envs.providers.profiles`), so an
        episode's first start of LibreOffice, GIMP, ... skips their first-run work; part of the pristine home.
        ``home``: a fixed path for the session's home (the container's ``/home/user``, where OSWorld's tasks look),
        made at start (it must not exist yet: one session at a time has it) and removed at stop; default: a fresh
        ``user`` folder in the session's own directory.

        ``reset_mode``: ``"restart"`` (``restore`` kills the apps and puts the home back; an env's setup then starts
        its apps again) or ``"snapshot"``: the session runs as one process tree in namespaces of its own
        (`step_envs.providers.pidns`), so that :meth:`snapshot` can dump it with CRIU and :meth:`restore_snapshot`
        bring it back, apps and all, with the files as they were (docs/providers.md). Needs root (a user of its
        own) and CRIU 4.2+ (`step_envs.providers.criu`); where either is missing the session runs as
        ``"restart"`` after one warning (:attr:`snapshot_unavailable` says why). ``snapshot_limit``: how many
        snapshots the session keeps (the least recently restored goes first; each is ~200 MB of images)."""
        if reset_mode not in RESET_MODES:
            raise ValueError(f"reset_mode must be one of {', '.join(RESET_MODES)}, got {reset_mode!r}")
        if wipe_dirs and not exclusive_user:
            raise ValueError("wipe_dirs deletes every file of the session user: it needs exclusive_user=True")
        self.width, self.height = width, height
        self.start_timeout = start_timeout
        self.panel, self.desktop, self.a11y = panel, desktop, a11y
        self.server_host, self.server_port, self._token = server_host, server_port, token
        self.wipe_dirs, self.exclusive_user, self.use_reaper = wipe_dirs, exclusive_user, reaper
        self._user: pwd.struct_passwd | None = None
        self._user_name = user
        self.session_ports: dict[str, int] = {}  # app_ports.SESSION_PORTS -> this session's port, set by start()
        self.run_as_user, self.server_fd, self.app_profiles = run_as_user, server_fd, app_profiles
        self.fixed_home = home
        self._made_fixed_home = False  # stop() removes a fixed home only when this session made it
        self.pooled = run_as_user and user is None and os.geteuid() == 0
        if run_as_user and os.geteuid() != 0:
            _warn_unisolated()
        if self.pooled:
            self.exclusive_user, self.wipe_dirs = True, wipe_dirs or SHARED_TMP_DIRS
        self.pids_limit = pids_limit if self.pooled else None  # RLIMIT_NPROC counts per uid: a shared uid shares it
        self.private_shm = private_shm if self.pooled else None
        self.private_tmp = private_tmp and self.private_shm is not None  # the same namespace gives both
        self._lock_fd: int | None = None
        self._namespace: subprocess.Popen[bytes] | None = None
        self.session_id = secrets.token_hex(8)
        self.dir: Path | None = None
        self.display: str | None = None
        self.endpoint: Endpoint | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._infra: set[int] = set()
        self._infra_windows: set[str] = set()
        self._infra_files: set[Path] = set()  # as the session sees them (see _in_session)
        self._pristine_home: dict[str, tuple[bytes | None, int]] = {}
        self._reaper: subprocess.Popen[bytes] | None = None
        self.snapshot_unavailable: str | None = None
        if reset_mode == "snapshot":
            self.snapshot_unavailable = ("it needs a session user of its own (root, run_as_user=True, user=None), "
                                         "private namespaces (private_shm, private_tmp) and no fixed home"
                                         if not (self.pooled and self.private_tmp and home is None)
                                         else criu.unavailable())
            if self.snapshot_unavailable:
                _warn_no_snapshots(self.snapshot_unavailable)
        self.reset_mode = "restart" if self.snapshot_unavailable else reset_mode
        self.snapshot_limit = snapshot_limit
        self._init_pid: int | None = None  # snapshot mode: the host pid of the session's pid-namespace init
        self._init_is_child = False  # a restored init is this process's child (reaped here), a first one unshare's
        self._snapshots: dict[str, Path] = {}  # key -> CRIU's images, the least recently restored first
        self._snapshot_root: Path | None = None
        self._infra_ns: set[int] = set()
        self._parent: LocalProvider | None = None  # a fork's session (see fork)
        self._forks: list[LocalProvider] = []
        self._net: pidns.NetNamespace | None = None
        self._relay: pidns.Relay | None = None
        self._operating = 0  # dumps and restores in progress (alive() answers True meanwhile)

    # --- paths and environment ---------------------------------------------------------------------

    @property
    def home(self) -> Path:
        if self.fixed_home is not None:
            return Path(self.fixed_home)
        assert self.dir is not None
        return self.dir / "user"  # named as the container's /home/user, so apps title it alike (e.g. "user - Thunar")

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid, follow_symlinks=False)

    def _private_file(self, path: Path, data: bytes) -> Path:
        """Write ``data`` to ``path``, readable by the session user only."""
        path.write_bytes(data)
        self._chown(path)
        path.chmod(0o600)
        return path

    def _session_env(self) -> dict[str, str]:
        assert self.dir is not None
        user = self._user.pw_name if self._user else pwd.getpwuid(os.getuid()).pw_name
        env = {
            # the system's dirs and this venv's, not the caller's PATH: its entries may be unreadable to the
            # session user (then execvp fails with EACCES instead of trying the next dir)
            "PATH": f"{Path(sys.executable).parent}:{self.dir / 'overrides'}:{SYSTEM_PATH}:{self.dir / 'bin'}",
            "HOME": str(self.home), "USER": user, "LOGNAME": user, "SHELL": "/bin/bash",
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "XDG_RUNTIME_DIR": str(self.dir / "run"),
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={self.dir / 'run' / 'bus'}",
            # GSettings in a text file of the home (~/.config/glib-2.0/settings/keyfile), not dconf's binary
            # database: the home template sets the values OSWorld's Ubuntu starts with (screen lock off), and every
            # reset puts them back with the home
            "GSETTINGS_BACKEND": "keyfile",
            "XDG_SESSION_TYPE": "x11",  # as on OSWorld's Ubuntu: pyautogui.screenshot() grabs X11 with scrot
            "GTK_OVERLAY_SCROLLING": "0", MARKER: self.session_id,
            "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(self.dir / "tmp"),
            "PYTHONPATH": str(PACKAGE_ROOT),  # the server runs this copy of step_envs, checkout or installed
            "STEP_ENVS_REGISTER": "0",  # the server and worker need no Gymnasium ids (see step_envs/__init__)
        }
        env.update({name: str(port) for name, port in self.session_ports.items()})  # see server/app_ports.py
        if os.environ.get("STEP_ENVS_CODE_SERVER"):  # where `code` finds code-server (step_envs/desktop/vscode.py)
            env["STEP_ENVS_CODE_SERVER"] = os.environ["STEP_ENVS_CODE_SERVER"]
        if self.a11y:  # GTK's bridge is on unless NO_AT_BRIDGE; Qt needs asking; LibreOffice's needs its GTK UI
            env.update(QT_ACCESSIBILITY="1", SAL_USE_VCLPLUGIN="gtk3")
        else:
            env["NO_AT_BRIDGE"] = "1"
        if self.reset_mode == "snapshot":
            # browsers' sandboxes put their child processes in pid namespaces of their own, which CRIU cannot dump:
            # off in a snapshot session (Chromium through the `chromium` override; Thunderbird and Firefox here)
            env.update(STEP_GYM_SNAPSHOT="1", MOZ_DISABLE_CONTENT_SANDBOX="1", MOZ_DISABLE_RDD_SANDBOX="1",
                       MOZ_DISABLE_SOCKET_PROCESS_SANDBOX="1", MOZ_DISABLE_GMP_SANDBOX="1",
                       MOZ_DISABLE_UTILITY_SANDBOX="1")
        if self.display:
            env["DISPLAY"] = self.display
        return env

    def _install_stand_ins(self) -> None:
        """Copy the stand-in commands into the session's ``bin`` (last on PATH) and ``overrides`` (before the
        system's dirs) with their execute bits (a wheel or the image's build context may not keep file modes)."""
        assert self.dir is not None
        for source, name in ((STAND_INS, "bin"), (OVERRIDES, "overrides")):
            target = self.dir / name
            target.mkdir()
            for script in sorted(source.iterdir()) if source.is_dir() else ():
                shutil.copyfile(script, target / script.name)
                (target / script.name).chmod(0o755)

    def _seed_home(self) -> None:
        """A fresh home: the skeleton in step_envs/data/desktop/home (the panel layout, with a date-only clock so equal
        states give equal screenshots, and app settings that skip first-run dialogs), then the pre-warmed app
        profiles (``app_profiles``). ``~/.Xauthority`` comes with the display (see ``_start_session``)."""
        home = self.home
        if HOME_SKELETON.is_dir():
            shutil.copytree(HOME_SKELETON, home, dirs_exist_ok=True)
        # ~/.config/Code/User: VS Code has run once on OSWorld's VM, and its setups write settings.json there
        for sub in ("Desktop", "Documents", "Downloads", ".config/Code/User"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        if self.app_profiles:
            profiles.seed(home, ports=self.session_ports)
        home.chmod(0o700)  # the skeleton's copy carries its mode
        if self._user is not None:
            # the panel and desktop keep running through a restore and may write (and rename away) their own
            # files here meanwhile: a path that vanishes mid-walk is theirs, not ours, so it is skipped
            self._chown(home)
            for root, dirs, files in os.walk(home):
                for name in dirs + files:
                    with contextlib.suppress(FileNotFoundError):
                        self._chown(Path(root) / name)

    def _snapshot_home(self) -> dict[str, tuple[bytes | None, int]]:
        """The home as the session came up: the skeleton plus what the panel and desktop wrote while starting
        (the panel copies its launchers' .desktop files there). Path -> (contents, or None for a dir; mode)."""
        return _capture(self._view(self.home))

    def _restore_home(self) -> None:
        """Put the home back as it was when the session came up (see :meth:`_put_back`)."""
        self._put_back(self._view(self.home), self._pristine_home)

    def _put_back(self, top: Path, pristine: dict[str, tuple[bytes | None, int]]) -> None:
        """Put the directory ``top`` back as ``pristine`` (:func:`_capture`) holds it. Files still as they were
        are left alone: the panel watches its launcher files, and deleting and re-creating them would leave it
        showing fallback icons. Anything else goes; changed, missing or retyped entries are written again (never
        through a link the session may have planted: this runs as root)."""
        if top.is_symlink() or not top.is_dir():  # the agent removed (or replaced) it
            _remove(top)
            top.mkdir(mode=0o700)
            self._chown(top)
        found: dict[str, os.stat_result] = {}  # the pristine entries still there, of their kind: as found
        base = len(str(top)) + 1
        for root, dirs, files in os.walk(top, topdown=False):
            prefix = root[base:]
            for name in dirs + files:
                rel = f"{prefix}/{name}" if prefix else name
                kept = pristine.get(rel)
                with contextlib.suppress(OSError):
                    info = os.lstat(os.path.join(root, name))
                    if kept is not None and (stat.S_ISDIR if kept[0] is None else stat.S_ISREG)(info.st_mode):
                        found[rel] = info
                    else:
                        _remove(Path(root, name))
        for rel, (data, mode) in sorted(pristine.items()):  # parents sort before their children
            path = top / rel
            info = found.get(rel)
            if data is None:
                fresh = info is None
                if fresh:
                    path.mkdir(exist_ok=True)
            else:
                fresh = info is None or info.st_size != len(data) or _contents(path) != data
                if fresh:  # a new file renamed into place: never written through what is there
                    tmp = path.with_name(f".{path.name}.step-gym-restore")
                    tmp.unlink(missing_ok=True)
                    tmp.write_bytes(data)
                    os.replace(tmp, path)
            if fresh or info is None or stat.S_IMODE(info.st_mode) != mode:
                path.chmod(mode)
            if fresh:
                self._chown(path)

    def _spawn(self, name: str, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes] | pidns.NsProcess:
        """Start a session process as the session user, in the session's mount namespace when it has one."""
        if self._init_pid is not None:
            return self._spawn_in_tree(name, argv, **kwargs)
        log_file = open(self.dir / "run" / f"{name}.log", "wb")  # noqa: SIM115 - owned by the process
        user: dict[str, object] = {}
        if self.pids_limit is not None:  # inherited by all it starts; checked against the uid's process count
            argv = ["prlimit", f"--nproc={self.pids_limit}:{self.pids_limit}", "--", *argv]
        if self._user is not None and self._namespace is not None:  # nsenter needs root: it switches user itself
            # entering a mount namespace moves the working directory to its root: --wd puts it back in the home,
            # where a terminal (started by the shortcuts process) opens, as in OSWorld's VM
            argv = ["nsenter", f"--mount=/proc/{self._ns_pid}/ns/mnt", f"--wd={self.home}", "-S",
                    str(self._user.pw_uid), "-G", str(self._user.pw_gid), "--", *argv]
        elif self._user is not None:
            user = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        try:
            proc = subprocess.Popen(argv, env=kwargs.pop("env", self._session_env()),
                                    stdin=kwargs.pop("stdin", subprocess.DEVNULL), stdout=kwargs.pop("stdout", log_file),
                                    stderr=log_file, cwd=self.home, start_new_session=True, **user, **kwargs)
        except OSError as exc:
            raise ProviderError(f"could not start {name} ({argv[0]}): {exc}; run `make install`") from exc
        finally:
            log_file.close()
        self._procs[name] = proc
        return proc

    def _spawn_in_tree(self, name: str, argv: list[str], **kwargs: object) -> pidns.NsProcess:
        """Snapshot mode: start the process as a child of the session's init (see `step_envs.providers.pidns`),
        inside all its namespaces, as the session user, its output in the session's log dir."""
        assert self._user is not None and self._init_pid is not None
        if self.pids_limit is not None:
            argv = ["prlimit", f"--nproc={self.pids_limit}:{self.pids_limit}", "--", *argv]
        argv = ["nsenter", f"--target={self._init_pid}", "--mount", "--pid", "--ipc", "--uts",
                "-S", str(self._user.pw_uid), "-G", str(self._user.pw_gid), "--",
                "sh", "-c", pidns.LAUNCH, "step-gym-launch", f"{pidns.LOG_DIR}/{name}.log",
                "0" if kwargs.get("stdin", subprocess.DEVNULL) == subprocess.DEVNULL else "1", *argv]
        try:
            launcher = subprocess.Popen(argv, env=kwargs.pop("env", self._session_env()),
                                        stdin=kwargs.pop("stdin", subprocess.DEVNULL), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, cwd="/", start_new_session=True, **kwargs)
        except OSError as exc:
            raise ProviderError(f"could not start {name} ({argv[0]}): {exc}; run `make install`") from exc
        out, err = launcher.communicate(timeout=30) if launcher.stdin is None else (
            launcher.stdout.readline(), b"")  # type: ignore[union-attr]
        launcher.wait(timeout=30)
        if launcher.returncode != 0 or not out.strip().isdigit():
            raise ProviderError(f"could not start {name} in the session's namespaces: {(err or b'').decode()[-500:]}")
        inner = int(out)
        outer = pidns.host_pid(self._init_pid, inner)
        if outer is None:  # exited already: its log says why
            raise ProviderError(f"{name} exited at once: {self._log_tail(name)}")
        proc = pidns.NsProcess(outer, inner, stdin=launcher.stdin)
        self._procs[name] = proc  # type: ignore[assignment]
        return proc

    def _view(self, path: Path) -> Path:
        """``path`` of the session as this process reaches it: in snapshot mode the session's directory lives in
        its namespace's own /tmp (see :func:`_namespace_script`), read through the init's root."""
        return Path(f"/proc/{self._init_pid}/root{path}") if self._init_pid is not None else path

    @property
    def _ns_pid(self) -> int:
        """A process inside the session's namespaces, to enter them or read its files through /proc."""
        if self._init_pid is not None:
            return self._init_pid
        assert self._namespace is not None
        return self._namespace.pid

    def _start_namespace(self) -> None:
        """A mount namespace, held open by a sleeping root process, that every session process is started in (see
        ``_spawn``): the session's own ``/dev/shm`` (a tmpfs of ``private_shm``) and ``/tmp`` (a tmpfs, with the
        session's directory bound back in), and the interpreter and the package reachable even when a directory
        above them is closed to the session user (a venv under ``/root`` or a ``mktemp -d`` folder, 0700): a tmpfs
        hides that directory in the namespace, and only the paths the session needs are bound back at their own
        paths (see :func:`_namespace_script`)."""
        assert self.dir is not None
        uid = self._user.pw_uid if self._user is not None else None
        # snapshot mode: the script's shell becomes the init of a pid namespace (and IPC, UTS) and the session leader
        tree = self.reset_mode == "snapshot"
        script = _namespace_script(self.private_shm or "512m", self.private_tmp, self.dir, session_needs(), uid,
                                   copy_session_dir=tree)
        if tree:
            gid = self._user.pw_gid if self._user is not None else None
            script = script.rsplit("\necho ready", 1)[0] + "\n" + "\n".join(pidns.init_lines(uid, gid))
        unshare = ["unshare", "--pid", "--fork", "--ipc", "--uts", "--mount", "--propagation", "private", "--",
                   "setsid"] if tree else ["unshare", "--mount", "--propagation", "private", "--"]
        self._namespace = subprocess.Popen(
            [*unshare, "sh", "-c", script], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            env={"PATH": SYSTEM_PATH, MARKER: self.session_id})
        assert self._namespace.stdout is not None
        if self._namespace.stdout.readline().strip() != b"ready":
            error = self._namespace.stderr.read().decode(errors="replace") if self._namespace.stderr else ""
            self._namespace.kill()
            self._namespace = None
            raise ProviderError(f"could not give the session its own /dev/shm and /tmp: {error.strip()}; pass "
                                "private_shm=None to share the host's")
        if tree:
            found = pidns.children(self._namespace.pid)
            if not found:
                raise ProviderError("the session's namespace init is gone")
            self._init_pid = found[0]

    def _choose_app_ports(self) -> dict[str, int]:
        """This session's ports for apps' fixed ones (see :data:`APP_PORT_BASE`)."""
        count = len(app_ports.SESSION_PORTS)
        if self.pooled and self._user is not None:
            first = APP_PORT_BASE + count * (self._user.pw_uid % 3000)
            return {name: first + i for i, name in enumerate(app_ports.SESSION_PORTS)}
        with contextlib.ExitStack() as held:  # all open at once, so the kernel gives different ports
            probes = [held.enter_context(socket.socket()) for _ in range(count)]
            for probe in probes:
                probe.bind(("127.0.0.1", 0))
            return {name: probe.getsockname()[1] for name, probe in zip(app_ports.SESSION_PORTS, probes, strict=True)}

    @property
    def tmp(self) -> Path:
        """The session's /tmp, as seen from here."""
        private = self._namespace is not None and self.private_tmp
        return Path(f"/proc/{self._ns_pid}/root/tmp") if private else Path("/tmp")

    @property
    def shm(self) -> Path:
        """The session's /dev/shm, as seen from here."""
        return Path(f"/proc/{self._ns_pid}/root/dev/shm") if self._namespace else Path("/dev/shm")

    def _log_tail(self, name: str, chars: int = 2000) -> str:
        logs = self.tmp / pidns.LOG_DIR.removeprefix("/tmp/") if self._init_pid is not None else self.dir / "run"
        with contextlib.suppress(OSError):
            return (logs / f"{name}.log").read_text(errors="replace")[-chars:]
        return ""

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Endpoint:
        if self.endpoint is not None:
            return self.endpoint
        _install_shutdown_hooks()
        _live.add(self)
        if self.pooled:
            self._user, self._lock_fd = claim_session_user()
            self._wipe_user_files()  # what a session of this user that died unreaped left in /tmp
        elif self.run_as_user and self._user_name is not None and os.geteuid() == 0:
            self._user = _account(self._user_name)
        self.session_ports = self._choose_app_ports()
        self.dir = Path(tempfile.mkdtemp(prefix="step-gym-"))  # 0700
        for private in ("run", "tmp"):  # tmp: the session's TMPDIR, so apps' temp files go with it
            (self.dir / private).mkdir(mode=0o700)
            self._chown(self.dir / private)
        self._chown(self.dir)
        self._install_stand_ins()
        try:
            self.home.mkdir(mode=0o700)
            self._made_fixed_home = self.fixed_home is not None
        except FileExistsError as exc:
            self.stop()
            raise ProviderError(f"the session's home {self.home} exists already: another session has it, or one "
                                "that died left it; a fixed home is for one session at a time") from exc
        self._seed_home()
        if self.use_reaper:
            uid = [str(self._user.pw_uid)] if self.pooled and self._user else []
            self._reaper = subprocess.Popen(
                [sys.executable, "-m", "step_envs.providers.reaper", str(os.getpid()), self.session_id,
                 str(self.dir), *uid], start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                env={**os.environ, "STEP_ENVS_REGISTER": "0"},
                pass_fds=() if self._lock_fd is None else (self._lock_fd,))  # the user stays claimed until it is done
        try:
            if self.private_shm:
                self._start_namespace()
            self._start_session()
        except BaseException:
            self.stop()
            raise
        return self.endpoint  # type: ignore[return-value]

    def _start_session(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        for socket_dir in map(Path, SOCKET_DIRS):
            socket_dir.mkdir(exist_ok=True)
            # Xvfb and ICE, run by session users, create their sockets here; sticky, so none can delete another's
            if os.geteuid() == 0 and socket_dir.stat().st_mode & 0o7777 != 0o1777:
                socket_dir.chmod(0o1777)
        read_fd, write_fd = os.pipe()
        # a real MIT cookie: only clients holding it may connect, and Xlib finds it (an empty ~/.Xauthority made
        # python-xlib print a warning on stdout in every process that imports pyautogui)
        cookie = secrets.token_bytes(16)
        server_auth = self._private_file(self._view(self.dir / "run" / "xauth-server"),
                                         xauth_entry(FAMILY_WILD, b"", b"", cookie))
        # keep the abstract "local" socket: with -displayfd it is what makes a second Xvfb skip a display in use.
        # No GLX: it loads Mesa into Xvfb (~11 MiB private per display, benchmarks/bench_memory.py); the apps here
        # draw without it (Chromium, Firefox and LibreOffice render in software, VLC's video falls back to XCB)
        args = ["-screen", "0", f"{self.width}x{self.height}x24", "-nolisten", "tcp", "-noreset", "+extension",
                "XFIXES", "-extension", "GLX", "-auth", str(server_auth)]
        if self._init_pid is not None and self._user is not None:
            # snapshot mode: no abstract socket (those belong to the host's network namespace: while the tree is
            # down between a kill and a restore, another session could take the name and the restore would fail),
            # only the socket file in the session's own /tmp; and a number no other session uses (clients try the
            # abstract name first, which must not reach another session's display): its user's, who has one session
            os.close(read_fd)
            os.close(write_fd)
            number = SNAPSHOT_DISPLAY_BASE + self._user.pw_uid
            self._spawn("xvfb", ["Xvfb", f":{number}", *args, "-nolisten", "local"])
            self._wait(lambda: (self.tmp / ".X11-unix" / f"X{number}").exists(), deadline, "Xvfb", "xvfb")
        else:
            self._spawn("xvfb", ["Xvfb", "-displayfd", str(write_fd), *args], pass_fds=(write_fd,))
            os.close(write_fd)
            number = self._read_display(read_fd, deadline)
        self.display = f":{number}"
        self._private_file(self._view(self.home / ".Xauthority"),
                           xauth_entry(FAMILY_LOCAL, socket.gethostname().encode(), str(number).encode(), cookie))

        bus = self.dir / "run" / "bus"
        bus_seen = self._view(bus)
        self._spawn("dbus", ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address=unix:path={bus}"])
        self._wait(lambda: bus_seen.exists(), deadline, "the session D-Bus", "dbus")
        # one malloc arena for the desktop's own processes (and the panel's plugins, which inherit it): their few
        # threads (D-Bus, dconf) otherwise each keep an arena of freed memory, ~11 MiB per process at idle
        shell_env = {**self._session_env(), "MALLOC_ARENA_MAX": "1"}
        self._spawn("xfwm4", ["xfwm4", "--compositor=off", "--sm-client-disable"], env=shell_env)
        if self.panel:
            self._spawn("panel", ["xfce4-panel", "--disable-wm-check"], env=shell_env)
        if self.desktop:
            self._spawn("xfdesktop", ["xfdesktop", "--disable-wm-check"], env=shell_env)
        self._spawn("shortcuts", [sys.executable, "-m", "step_envs.server.shortcuts"])  # ctrl+alt+t, super

        token = self._token or secrets.token_urlsafe(24)
        port_file = self.dir / "run" / "port"
        port_seen = self._view(port_file)
        argv = [sys.executable, "-m", "step_envs.server", "--host", self.server_host, "--port", str(self.server_port),
                "--port-file", str(port_file), "--token-file", "-"]
        extra: dict[str, object] = {}
        if self.server_fd is not None:
            argv += ["--listen-fd", str(self.server_fd)]
            extra["pass_fds"] = (self.server_fd,)
        # the token goes through a pipe: no file holds it, for another session's user or this one's agent to read
        server = self._spawn("server", argv, stdin=subprocess.PIPE, **extra)
        assert server.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            server.stdin.write(token.encode() + b"\n")
            server.stdin.close()
        self._wait(port_seen.exists, deadline, "the controller server", "server")
        url = f"http://127.0.0.1:{int(port_seen.read_text())}"
        self._wait(lambda: self._healthy(url), deadline, "the controller server", "server")
        self._wait(lambda: self._window_manager_ready(), deadline, "the window manager", "xfwm4")
        self.endpoint = Endpoint(url=url, token=token, width=self.width, height=self.height)
        self._wait_painted(url, token, deadline)
        # everything alive now is the session's furniture; anything started later is an app (see restore)
        self._infra = self._pids()
        self._infra_ns = {n for n in map(pidns.ns_pid, self._infra) if n is not None} if self._init_pid else set()
        self._infra_windows = set(self._windows())
        self._infra_files = {_in_session(child) for root in self._wipe_roots() if root.is_dir()
                             for child in root.iterdir()}
        self._pristine_home = self._snapshot_home()

    def _wait_painted(self, url: str, token: str, deadline: float) -> None:
        """Mapped is not painted: wait until the screen is drawn (not uniform) and still for 300 ms (the panels
        map and paint one after the other; at 100 ms the top one was sometimes still missing)."""
        headers, previous = {TOKEN_HEADER: token}, b""
        while time.monotonic() < deadline:
            frame = requests.get(f"{url}/step/screenshot", headers=headers, timeout=10).content
            if frame == previous and frame.count(frame[:3]) * 3 != len(frame):
                return
            previous = frame
            time.sleep(0.3)
        raise ProviderError(f"the desktop did not finish drawing within {self.start_timeout:g} s")

    def _read_display(self, fd: int, deadline: float) -> int:
        data = b""
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while not data.endswith(b"\n"):
                if time.monotonic() > deadline or self._procs["xvfb"].poll() is not None:
                    raise ProviderError(f"Xvfb did not start: {self._log_tail('xvfb')}")
                chunk = pipe.read(16)
                if not chunk:
                    raise ProviderError(f"Xvfb exited: {self._log_tail('xvfb')}")
                data += chunk
        return int(data)

    def _wait(self, ready: object, deadline: float, what: str, log: str) -> None:
        while not ready():  # type: ignore[operator]
            proc = self._procs.get(log)
            if proc is not None and proc.poll() is not None:
                raise ProviderError(f"{what} exited with {proc.returncode}: {self._log_tail(log)}")
            if time.monotonic() > deadline:
                raise ProviderError(f"{what} not ready after {self.start_timeout:g} s: {self._log_tail(log)}")
            time.sleep(0.01)

    @staticmethod
    def _healthy(url: str) -> bool:
        try:
            return requests.get(f"{url}/health", timeout=1).ok
        except requests.RequestException:
            return False

    def _window_manager_ready(self) -> bool:
        env = self._session_env()
        proc = subprocess.run(self._x_client(["wmctrl", "-m"]), env=env, capture_output=True, text=True, timeout=5)
        if proc.returncode != 0:
            return False
        titles = [line.split(None, 3)[-1] for line in subprocess.run(
            self._x_client(["wmctrl", "-l"]), env=env, capture_output=True, text=True, timeout=5).stdout.splitlines()]
        return (not self.panel or "xfce4-panel" in titles) and (not self.desktop or "Desktop" in titles)

    def _x_client(self, argv: list[str]) -> list[str]:
        """``argv`` as an X client of the session run from here: in snapshot mode the display has no abstract
        socket (see ``_start_session``), only its file in the session's private /tmp, so it runs in that mount
        namespace."""
        return ["nsenter", f"--target={self._init_pid}", "--mount", "--", *argv] if self._init_pid else argv

    def _list_windows(self) -> subprocess.Popen[str]:
        """``wmctrl -lp`` started: :meth:`_windows` reads its answer (meanwhile this process can do other work)."""
        return subprocess.Popen(self._x_client(["wmctrl", "-lp"]), env=self._session_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def _windows(self, listing: subprocess.Popen[str] | None = None) -> dict[str, int]:
        """Managed windows of the session: id -> owner pid (0 when the window does not say); from ``listing``
        (:meth:`_list_windows`, started earlier) when given."""
        with listing or self._list_windows() as proc:
            try:
                out, _ = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        return {parts[0]: int(parts[2]) for parts in (line.split(None, 4) for line in out.splitlines())
                if len(parts) >= 3 and parts[2].lstrip("-").isdigit()}

    def restore(self) -> None:
        """Close every app and window opened since the session came up and give the session a fresh home.

        Apps are killed outright (they are disposable). A window can outlive its launcher (``thunar DIR`` asks
        an already running Thunar daemon for it), so windows that were not there at start are closed too,
        and their owner killed when it is not part of the session's furniture.
        """
        if self.dir is None:
            raise ProviderError("session not started")
        damaged = [name for name in ("run/bus", "bin") if not self._view(self.dir / name).exists()]
        if damaged:  # an action deleted its own session's files: only a new session is clean
            raise ProviderError(f"the session lost {', '.join(damaged)} (an action deleted them): replace it")
        listing = self._list_windows()  # the window list is taken while this process scans for strays
        if self._kill_strays(spare=listing.pid):  # the list may hold their windows, gone with them: taken again
            listing.kill()
            listing.communicate()
            listing = self._list_windows()
        leftover = {wid: pid for wid, pid in self._windows(listing).items() if wid not in self._infra_windows}
        owners = {pid for pid in leftover.values() if pid > 0}
        core = {proc.pid for proc in self._procs.values()}
        kill_pids(owners - core, grace_s=0.5, signals=(signal.SIGKILL,))
        for wid in leftover:
            subprocess.run(self._x_client(["wmctrl", "-i", "-c", wid]), env=self._session_env(), capture_output=True,
                           timeout=5)
        for name in STALE_RUNTIME:  # the daemons that kept them were killed above
            shutil.rmtree(self._view(self.dir / "run" / name), ignore_errors=True)
        self._restore_home()
        self._wipe_user_files()

    def _kill_strays(self, spare: int) -> bool:
        """Kill every session process that is not its furniture (nor one of the server's helpers, nor ``spare``,
        this restore's own ``wmctrl``), round after round (a fork bomb forks between them); whether there was any."""
        helpers: set[int] | None = None  # asked of the server only when something beside the furniture runs
        for round_ in range(50):
            strays = self._pids() - self._infra - {spare}
            if strays and helpers is None:
                helpers = self._server_helpers()
            strays -= helpers or set()
            if not strays:
                return round_ > 0
            kill_pids(strays, grace_s=0.5, signals=(signal.SIGKILL,))
        return True

    # --- snapshots (reset_mode="snapshot") ------------------------------------------------------------

    def has_snapshot(self, key: str) -> bool:
        return key in self._snapshots

    @_operation
    def snapshot(self, key: str) -> float:
        """Dump the whole session with CRIU as the snapshot ``key`` (it replaces one of the same key), keep its
        files, and restore it at once: the episode goes on in the restored tree, the same to every process and
        on screen. Clients reconnect (their TCP connections are dropped). Returns the seconds it took."""
        if self.reset_mode != "snapshot" or self._init_pid is None:
            raise ProviderError(f"this session does not take snapshots (reset_mode={self.reset_mode!r}"
                                f"{': ' + self.snapshot_unavailable if self.snapshot_unavailable else ''})")
        t0 = time.monotonic()
        if self._snapshot_root is None:
            root = Path(os.environ.get("STEP_ENVS_SNAPSHOT_DIR") or SNAPSHOT_DIR)
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._snapshot_root = Path(tempfile.mkdtemp(prefix=f"{self.session_id}-", dir=root))
        old = self._snapshots.pop(key, None)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        images = self._snapshot_root / hashlib.sha256(key.encode()).hexdigest()[:16]
        shutil.rmtree(images, ignore_errors=True)
        try:
            criu.dump(self._init_pid, images, self._criu_user)
        except criu.CriuError as exc:
            shutil.rmtree(images, ignore_errors=True)
            raise ProviderError(f"could not snapshot the session: {exc}") from exc
        self._reap_init()
        self._snapshots[key] = images
        while len(self._snapshots) > max(1, self.snapshot_limit):
            shutil.rmtree(self._snapshots.pop(next(iter(self._snapshots))), ignore_errors=True)
        self._restore_tree(images)
        return time.monotonic() - t0

    @_operation
    def restore_snapshot(self, key: str) -> float:
        """Replace the running session with the snapshot ``key``: the tree is killed (its files, all in its
        namespace's tmpfs mounts, go with it), CRIU restores the tree and those files as they were at the dump.
        Returns the seconds it took."""
        images = self._snapshots.pop(key, None)
        if images is None or self.dir is None:
            raise ProviderError(f"no snapshot {key!r} in this session")
        self._snapshots[key] = images  # the most recently restored goes last
        t0 = time.monotonic()
        self._kill_tree()
        self._wipe_user_files(host_only=True)  # what the session user left in the host's /var/tmp
        self._restore_tree(images)
        return time.monotonic() - t0

    @property
    def _criu_user(self) -> tuple[int, int] | None:
        return (self._user.pw_uid, self._user.pw_gid) if self._user is not None else None

    @_operation
    def fork(self) -> LocalProvider:
        """A second session at this session's state, running beside it from now on (snapshot mode only).

        The session is dumped and restored (as :meth:`snapshot` does), and the same images restored once more
        into a network namespace of the fork's own, where its controller listens on the same port; this process
        reaches it through a relay on another 127.0.0.1 port (the fork's :attr:`endpoint`). The fork has its own
        processes, screen, clipboard, /tmp and files (the session's directory lives in the tree's tmpfs); it runs
        as the same session user, shares this session's snapshots, and lives at most as long as this session
        (stopping this one stops its forks). Cost: a dump and two restores, and the fork's own memory (docs/
        providers.md). What does not carry over: TCP connections (clients reconnect), and what lives outside the
        session (the host's /var/tmp, a running download's server side)."""
        if self.reset_mode != "snapshot" or self._init_pid is None or self.endpoint is None:
            raise ProviderError("only a started session in reset_mode='snapshot' can fork"
                                f"{': ' + self.snapshot_unavailable if self.snapshot_unavailable else ''}")
        root = self._parent or self
        key = f"fork-{secrets.token_hex(4)}"
        self.snapshot(key)  # this session goes on from the restored tree; the images stay for the fork
        images = self._snapshots.pop(key)
        child = LocalProvider.__new__(LocalProvider)
        child.__dict__.update(self.__dict__)
        child._parent, child._forks, child._namespace, child._init_is_child = root, [], None, False
        child._operating = 0
        child._procs = {name: pidns.NsProcess(-1, proc.ns_pid) for name, proc in self._procs.items()}
        child._net = pidns.NetNamespace()
        try:
            child._restore_tree(images)
        except BaseException:
            child._net.close()
            raise
        finally:
            shutil.rmtree(images, ignore_errors=True)
        port = int(self.endpoint.url.rsplit(":", 1)[1])
        child._relay = pidns.Relay(child._net, port)
        child.endpoint = dataclasses.replace(self.endpoint, url=f"http://127.0.0.1:{child._relay.port}")
        child.session_id = f"{self.session_id}-{key}"
        root._forks.append(child)
        _live.add(child)
        return child

    def _kill_tree(self) -> None:
        """Kill the session's whole tree (its pid namespace goes with its init) and wait until it is gone."""
        assert self._init_pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._init_pid, signal.SIGKILL)
        self._reap_init()

    def _reap_init(self) -> None:
        """Wait for the dead init: this process's child after a restore, else ``unshare``'s."""
        if self._init_is_child:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._init_pid, 0)  # type: ignore[arg-type]
        elif self._namespace is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._namespace.wait(timeout=10)

    def _restore_tree(self, images: Path) -> None:
        try:
            self._init_pid = criu.restore(images, net=self._net.path if self._net else None)
        except criu.CriuError as exc:
            self._init_pid = None
            raise ProviderError(f"could not restore the session's snapshot: {exc}") from exc
        self._init_is_child = True
        for proc in self._procs.values():
            proc.follow(self._init_pid)  # type: ignore[union-attr]
        tree = pidns.descendants(self._init_pid)
        self._infra = {self._init_pid} | {pid for pid in tree if pidns.ns_pid(pid) in self._infra_ns}

    def _wipe_roots(self) -> list[Path]:
        """The shared writable dirs as the session sees them (its own /tmp and /dev/shm when it has them)."""
        roots = [self.tmp if Path(d) == Path("/tmp") else Path(d) for d in self.wipe_dirs]
        return [*roots, *([self.shm] if self._namespace else [])]

    def _wipe_user_files(self, host_only: bool = False) -> None:
        """Delete what the session user left in the shared writable dirs (``wipe_dirs``; ``host_only``: not the
        session's private /tmp and /dev/shm)."""
        uid = self._user.pw_uid if self._user is not None else os.getuid()
        roots = self._wipe_roots()
        if host_only:
            roots = [root for root in roots if not str(root).startswith("/proc/")]
        for root in roots:
            with contextlib.suppress(OSError):
                for child in root.iterdir():
                    with contextlib.suppress(OSError):
                        if child.lstat().st_uid == uid and _in_session(child) not in self._infra_files:
                            _remove(child)

    def _pids(self) -> set[int]:
        """The session's processes: those carrying its marker, and with ``exclusive_user`` every process of
        the session user. In snapshot mode: its tree (nothing leaves a pid namespace; a fork of the session runs
        as the same user and carries the same marker, and is not this session's)."""
        if self._init_pid is not None:
            return {self._init_pid} | pidns.descendants(self._init_pid)
        pids = session_pids(self.session_id)
        if self.exclusive_user:
            pids |= user_pids(self._user.pw_uid if self._user is not None else os.getuid())
        return pids

    def _server_helpers(self) -> set[int]:
        """The controller's own long-lived children, which a restore keeps: its action worker and its
        accessibility reader (each restarted by the server when gone, but at a cost: imports)."""
        assert self.endpoint is not None
        with contextlib.suppress(requests.RequestException, ValueError, AttributeError):
            health = requests.get(f"{self.endpoint.url}/health", timeout=2).json()
            return {int(health[key]) for key in ("worker_pid", "a11y_pid") if health.get(key) is not None}
        return set()

    def processes_alive(self) -> bool:
        """Every session process (Xvfb, D-Bus, window manager, panel, desktop, server) still runs."""
        return bool(self._procs) and all(p.poll() is None for p in self._procs.values())

    def alive(self) -> bool:
        if self._operating:  # a dump or restore in progress takes the tree down for a moment: not a failure
            return True
        return self.endpoint is not None and self.processes_alive() and self._healthy(self.endpoint.url)

    def stop(self) -> None:
        if self.dir is None:
            return
        for fork in list(self._forks):
            fork.stop()
        if self._parent is not None:  # a fork: its tree, namespace and relay; the rest is its parent's
            if self._init_pid is not None:
                self._kill_tree()
                self._init_pid = None
            for part in (self._relay, self._net):
                if part is not None:
                    part.close()
            self._relay = self._net = None
            with contextlib.suppress(ValueError):
                self._parent._forks.remove(self)
            self.dir = self.endpoint = None
            _live.discard(self)
            return
        for proc in self._procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        if self._init_pid is not None:
            self._kill_tree()
            self._init_pid = None
        if self._snapshot_root is not None:
            shutil.rmtree(self._snapshot_root, ignore_errors=True)
            self._snapshot_root, self._snapshots = None, {}
        kill_session(self.session_id, grace_s=1.0)
        if self.pooled and self._user is not None:
            kill_user(self._user.pw_uid)  # also what scrubbed the session marker from its environment
        for proc in [*self._procs.values(), *([self._namespace] if self._namespace else [])]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        self._procs.clear()
        self._namespace = None
        if self._reaper is not None:
            self._reaper.kill()
            self._reaper.wait()
            self._reaper = None
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._made_fixed_home:
            shutil.rmtree(self.home, ignore_errors=True)
            self._made_fixed_home = False
        if self.pooled and self._user is not None:
            self._infra_files = set()
            self._wipe_user_files()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # the user is free for the next session
            self._lock_fd = None
        self.dir = None
        self.endpoint = None
        self.display = None
        _live.discard(self)


def _in_session(path: Path) -> Path:
    """``path`` as the session names it: without the ``/proc/PID/root`` through which this process reaches the
    session's own /tmp and /dev/shm (the PID changes when a snapshot is restored)."""
    parts = path.parts
    if len(parts) > 3 and parts[1] == "proc" and parts[3] == "root":
        return Path("/", *parts[4:])
    return path


def _contents(path: Path) -> bytes | None:
    """The bytes of the file ``path``, or None when it cannot be read (gone since it was listed)."""
    try:
        return path.read_bytes()
    except OSError:
        return None


def _capture(top: Path) -> dict[str, tuple[bytes | None, int]]:
    """The directory ``top`` as it is now: relative path -> (contents, or None for a dir; mode). Regular files and
    dirs only (a socket or a link is not kept: ``_put_back`` removes it)."""
    captured: dict[str, tuple[bytes | None, int]] = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(root) / name
            with contextlib.suppress(OSError):
                info = path.lstat()
                if stat.S_ISDIR(info.st_mode):
                    captured[str(path.relative_to(top))] = (None, stat.S_IMODE(info.st_mode))
                elif stat.S_ISREG(info.st_mode):
                    captured[str(path.relative_to(top))] = (path.read_bytes(), stat.S_IMODE(info.st_mode))
    return captured


def session_needs() -> list[Path]:
    """What a session must reach on the host that a closed directory above it may hide from the session user:
    this interpreter's environment (a venv's prefix, where its ``bin/python`` is) and the package's checkout."""
    return list(dict.fromkeys([Path(sys.prefix).absolute(), PACKAGE_ROOT]))


def closed_above(path: Path, uid: int | None) -> Path | None:
    """The topmost directory above ``path`` (itself excluded) that the user ``uid`` cannot pass through (no
    execute bit for others, and not its owner), or None."""
    for parent in reversed(path.parents):
        try:
            info = parent.stat()
        except OSError:
            return None
        if uid is not None and info.st_uid == uid:
            continue
        if not info.st_mode & stat.S_IXOTH:
            return parent
    return None


def _namespace_script(shm_size: str, private_tmp: bool, session_dir: Path, needs: list[Path],
                      uid: int | None = None, copy_session_dir: bool = False) -> str:
    """The shell run by ``unshare --mount`` as root: a tmpfs on /dev/shm; then every path the session needs
    (its own directory when /tmp goes private, and ``needs`` hidden by a closed directory above them) is bound
    aside under that tmpfs, a fresh tmpfs covers /tmp and each closed directory, the paths go back where they
    were, and /tmp gets its sticky X11 and ICE socket dirs. ``copy_session_dir`` (snapshot mode): the session's
    directory is copied into the private /tmp instead of bound back, so its files live in the namespace's tmpfs,
    which a CRIU dump carries: each restore gets them as they were at the dump."""
    import shlex

    keep = [session_dir] if private_tmp else []
    covers = ["/tmp"] if private_tmp else []
    for path in needs:
        closed = closed_above(path, uid)
        if closed is None or (private_tmp and Path("/tmp") in (closed, *closed.parents)):
            if private_tmp and Path("/tmp") in path.parents:
                keep.append(path)  # under /tmp, which the private /tmp covers
            continue
        keep.append(path)
        if str(closed) not in covers:
            covers.append(str(closed))
    keep = [p for p in dict.fromkeys(keep) if not any(other in p.parents for other in keep)]
    q = shlex.quote
    lines = ["set -e", "umask 022",  # the dirs made on the way to a kept path: passable by the session user
             f"mount -t tmpfs -o size={shm_size},mode=1777,nosuid,nodev step-gym-shm /dev/shm",
             "mkdir -m 700 /dev/shm/.step-gym-keep"]
    for index, path in enumerate(keep):
        lines += [f"mkdir /dev/shm/.step-gym-keep/{index}", f"mount --bind {q(str(path))} /dev/shm/.step-gym-keep/{index}"]
    for cover in covers:
        lines.append("mount -t tmpfs -o mode=1777,nosuid,nodev step-gym-tmp /tmp" if cover == "/tmp" else
                     f"mount -t tmpfs -o size=16m,mode=755,nosuid,nodev step-gym-cover {q(cover)}")
    for index, path in enumerate(keep):
        aside = f"/dev/shm/.step-gym-keep/{index}"
        if copy_session_dir and path == session_dir:
            lines += [f"mkdir -p {q(str(path))}", f"cp -a {aside}/. {q(str(path))}", f"umount {aside}"]
        else:
            lines += [f"mkdir -p {q(str(path))}", f"mount --move {aside} {q(str(path))}"]
    lines.append("rm -rf /dev/shm/.step-gym-keep")
    if private_tmp:
        lines += [f"mkdir -p -m 1777 {socket_dir}" for socket_dir in SOCKET_DIRS]
        lines += [f"chmod 1777 {socket_dir}" for socket_dir in SOCKET_DIRS]
    lines += ["echo ready", "exec sleep infinity"]
    return "\n".join(lines)
