"""CRIU, for resets that restore a process-tree snapshot instead of restarting apps (``reset_mode="snapshot"``).

What a snapshot is: ``criu dump`` of a whole desktop session (Xvfb, D-Bus, the window manager, the panel, the
controller server and the apps), which runs as the tree below the first process of its own pid, mount, IPC and
UTS namespaces; ``criu restore`` brings the tree back with the same pids (inside its namespace), the same X server
contents, the same sockets and the same memory, in a fraction of a second.

Which CRIU: 4.2 or newer. Older ones fail here: Debian 12's 3.17 before it starts on recent kernels (``vdso:
Unexpected rt vDSO area bounds``), and 4.1 cannot restore a named unix socket in a session whose leader is not an
ancestor of the socket's owner (``Can't setns .../mnt: Invalid argument``; D-Bus-activated services are such
processes; fixed in CRIU 4.2 by forking the session helpers without shared fs). Looked up in this order:

1. ``$STEP_ENVS_CRIU``: a ``criu`` binary to use as is;
2. the system's ``criu``, when its version is 4.2 or newer;
3. a private Debian root at ``$STEP_ENVS_CRIU_ROOT`` (default ``/var/lib/step-gym/criu``) holding Debian's
   ``criu`` package of a newer release (``forky``), made by ``python -m step_envs.providers.criu install``
   (``make install`` runs it as root) with ``debootstrap``; its ``criu`` runs through that root's own dynamic
   loader and libraries, so the host's libc is not touched.

CRIU needs root (``CAP_SYS_ADMIN``, ``CAP_CHECKPOINT_RESTORE``) and a kernel it accepts (``criu check``).
:func:`unavailable` says why snapshots cannot run here, or None.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

MIN_VERSION = (4, 2)
SUITE = "forky"  # the first Debian release whose criu is 4.2 or newer
DEFAULT_ROOT = Path("/var/lib/step-gym/criu")
LIB_DIRS = ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu")
# the largest deleted-but-open file a dump carries (CRIU's default, 1 MiB, is less than Chromium's 4 MiB metrics file)
GHOST_LIMIT = "256M"


class CriuError(RuntimeError):
    """A dump or restore failed; the message ends with the tail of CRIU's log."""


def private_root() -> Path:
    """Where the private Debian root with CRIU lives: ``$STEP_ENVS_CRIU_ROOT``, else :data:`DEFAULT_ROOT`."""
    return Path(os.environ.get("STEP_ENVS_CRIU_ROOT") or DEFAULT_ROOT)


def _version(argv: list[str]) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Version:\s*(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def bundled_command(root: Path | None = None) -> list[str] | None:
    """The private root's (:func:`private_root` by default) ``criu``, run by that root's dynamic loader with its
    libraries; None when not made."""
    root = root or private_root()
    loader, binary = root / "lib64" / "ld-linux-x86-64.so.2", root / "usr" / "sbin" / "criu"
    if not (loader.is_file() and binary.is_file()):
        return None
    return [str(loader), "--library-path", ":".join(str(root / d) for d in LIB_DIRS), str(binary)]


@functools.cache
def command() -> tuple[list[str] | None, str]:
    """The argv prefix that runs a usable CRIU, or None and why not (see the module docstring for the order)."""
    explicit = os.environ.get("STEP_ENVS_CRIU")
    candidates: list[tuple[str, list[str]]] = []
    if explicit:
        candidates.append(("$STEP_ENVS_CRIU", [explicit]))
    system = shutil.which("criu")
    if system:
        candidates.append(("the system's criu", [system]))
    bundled = bundled_command()
    if bundled:
        candidates.append((f"the criu in {private_root()}", bundled))
    notes = []
    for what, argv in candidates:
        version = _version(argv)
        if version is None:
            notes.append(f"{what} does not run")
        elif version < MIN_VERSION and what != "$STEP_ENVS_CRIU":
            notes.append(f"{what} is {'.'.join(map(str, version))}, older than 4.2")
        else:
            return argv, ""
    notes.append(f"no criu 4.2+ found; `make install` (as root) puts one in {private_root()}")
    return None, "; ".join(notes)


@functools.cache
def unavailable() -> str | None:
    """Why snapshots cannot run on this host (not root, no CRIU 4.2+, ``criu check`` refuses), or None."""
    if os.geteuid() != 0:
        return "CRIU needs root"
    argv, why = command()
    if argv is None:
        return why
    proc = subprocess.run([*argv, "check"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return f"`criu check` refuses this kernel: {(proc.stdout + proc.stderr).strip()[-500:]}"
    return None


CAPABILITIES = ("chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap linux_immutable "
                "net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner sys_module sys_rawio sys_chroot "
                "sys_ptrace sys_pacct sys_admin sys_boot sys_nice sys_resource sys_time sys_tty_config mknod lease "
                "audit_write audit_control setfcap mac_override mac_admin syslog wake_alarm block_suspend audit_read "
                "perfmon bpf checkpoint_restore").split()  # by bit number, as in linux/capability.h


def _held_capabilities() -> list[str]:
    """The capabilities this process holds (``CapEff``), by name."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            bits = int(line.split()[1], 16)
            return [name for bit, name in enumerate(CAPABILITIES) if bits >> bit & 1]
    return []


def _as_user(uid: int, gid: int) -> list[str]:
    """Run CRIU as the session's user, keeping root's capabilities (ambient): CRIU reads each process's limits,
    which needs CAP_SYS_RESOURCE or the same uid, and a container's root often lacks the former."""
    caps = ",".join(f"+{name}" for name in _held_capabilities())
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", f"--inh-caps=-all,{caps}",
            f"--ambient-caps=-all,{caps}"]


def _run(args: list[str], images: Path, log_name: str, timeout: float, user: tuple[int, int] | None) -> None:
    argv, why = command()
    if argv is None:
        raise CriuError(why)
    if user is not None:
        argv = [*_as_user(*user), *argv]
        args = [args[0], "--unprivileged", *args[1:]]
    proc = subprocess.run([*argv, *args, "-D", str(images), "-o", log_name, "-v2"], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        log = ""
        try:
            log = (images / log_name).read_text(errors="replace")
        except OSError:
            pass
        errors = [line for line in log.splitlines() if "Error" in line and "RLIMIT_NOFILE" not in line]
        raise CriuError(f"criu {args[0]} failed ({proc.returncode}): {' | '.join(errors[-6:]) or proc.stderr[-800:]}")


def dump(pid: int, images: Path, user: tuple[int, int] | None = None, timeout: float = 120.0) -> float:
    """Dump the process tree below ``pid`` (the first process of its pid namespace) into ``images``, which the
    tree does not survive. Established TCP connections (a client's keep-alive) are dropped, not frozen; file locks
    (a browser's profile databases) are kept.
    ``user``: the (uid, gid) every process of the tree runs as (see :func:`_as_user`). Returns the seconds it
    took."""
    images.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    _run(["dump", "-t", str(pid), "--tcp-close", "--file-locks", "--ghost-limit", GHOST_LIMIT], images, "dump.log",
         timeout, user)
    return time.monotonic() - t0


def restore(images: Path, net: str | None = None, timeout: float = 120.0) -> int:
    """Restore the tree in ``images`` as a child of this process (reap it with ``os.waitpid`` once killed) in
    namespaces of its own, with this host's root as its root; ``net``: the network namespace (a path) to restore
    it in, instead of this process's. Runs as root (a restore sets each process's limits and ids itself).
    Returns the host pid of its first process."""
    pidfile = images / f"restored-{os.getpid()}-{time.monotonic_ns()}.pid"
    join = ["--join-ns", f"net:{net}"] if net else []
    _run(["restore", "-d", "--restore-sibling", "--root", "/", "--tcp-close", "--file-locks", *join, "--pidfile",
          str(pidfile)], images,
         "restore.log", timeout, None)
    pid = int(pidfile.read_text())
    pidfile.unlink()
    return pid


def install(root: Path | None = None, suite: str = SUITE, quiet: bool = False) -> int:
    """Make the private root with Debian's ``criu`` of ``suite`` (``debootstrap --variant=minbase``, a few
    minutes and ~230 MB once). Nothing to do when a CRIU 4.2+ is already found."""
    say = (lambda *_: None) if quiet else (lambda text: print(text, flush=True))
    root = root or private_root()
    argv, _ = command()
    if argv is not None:
        say(f"criu: {' '.join(argv[-1:])} is {'.'.join(map(str, _version(argv) or ()))}: nothing to install")
        return 0
    if os.geteuid() != 0:
        say("criu: not root, so no snapshot resets (they need root); skipped")
        return 0
    if shutil.which("debootstrap") is None:
        say("criu: debootstrap is missing (apt-get install debootstrap); skipped")
        return 1
    from step_envs.docker.image import host_debian_mirror

    script = Path("/usr/share/debootstrap/scripts") / suite
    extra = [] if script.exists() else ["/usr/share/debootstrap/scripts/sid"]  # an older debootstrap: same layout
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    say(f"criu: making {root} (Debian {suite}'s criu, with debootstrap; a few minutes once)")
    proc = subprocess.run(["debootstrap", "--variant=minbase", "--include=criu", suite, str(partial),
                           host_debian_mirror(), *extra], capture_output=True, text=True)
    if proc.returncode != 0:
        say(f"criu: debootstrap failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-2000:]}")
        return 1
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for child in (root / junk).glob("*.deb"):
            child.unlink()
    command.cache_clear()
    unavailable.cache_clear()
    say(f"criu: {root} holds criu {'.'.join(map(str, _version(bundled_command(root) or []) or ()))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m step_envs.providers.criu",
                                     description="CRIU for snapshot resets (reset_mode='snapshot').")
    sub = parser.add_subparsers(dest="command", required=True)
    install_parser = sub.add_parser("install", help=f"make {private_root()} with a CRIU 4.2+ from Debian {SUITE} (root; "
                                    "skipped when one exists)")
    install_parser.add_argument("--quiet-if-present", action="store_true",
                                help="print nothing when a CRIU 4.2+ is found already (make install runs this)")
    sub.add_parser("check", help="say whether snapshot resets can run here, and why not")
    args = parser.parse_args(argv)
    if args.command == "install":
        return install(quiet=args.quiet_if_present and command()[0] is not None)
    why = unavailable()
    argv = command()[0] or []
    version = ".".join(map(str, _version(argv) or ())) if argv else ""
    print(f"snapshot resets: available (criu {version}: {argv[-1]})" if why is None else f"snapshot resets: {why}")
    return 0 if why is None else 1


if __name__ == "__main__":
    sys.exit(main())
