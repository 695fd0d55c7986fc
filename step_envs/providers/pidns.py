"""A local session as one process tree in namespaces of its own, the shape CRIU can dump and restore.

With ``reset_mode="snapshot"`` (`step_envs.providers.local`) the session's first process is the init of a new pid
namespace (also a new mount, IPC and UTS namespace) and the session leader; every session process is its child:
started through ``nsenter`` by a launcher shell that exits at once, so the process is re-parented to that init.
Each opens its stdio inside the namespaces (CRIU cannot look up a file opened through another mount namespace) and
logs to the session's private ``/tmp`` (a tmpfs that the dump carries: a log on the host would grow after the
dump, and CRIU refuses a file whose size changed).

This module holds the parts that do not need the provider: the init's script lines, the launcher, the handle of a
process that is not our child (:class:`NsProcess`), pid translation between the host and the namespace, and what a
fork needs: a network namespace of its own (:class:`NetNamespace`) and a relay to its controller (:class:`Relay`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

LOG_DIR = "/tmp/.step-gym-logs"  # inside the session's mount namespace (its private /tmp)
# run by nsenter inside the namespaces as the session user: start "$@" in the background, leading a session of its
# own inside the namespace (CRIU refuses a session leader outside it), its output opened here and its stdin either
# the launcher's (a pipe: the controller's token) or /dev/null opened here; print its pid, exit: the process goes
# to the init. It starts in $HOME, entered here (a directory entered before nsenter is one of the host's mounts).
# Arguments: the log's path, 1 to keep stdin or 0, the command.
LAUNCH = ('cd "$HOME" || exit 1; log=$1; keep=$2; shift 2; '
          'if [ "$keep" = 1 ]; then exec 3<&0; else exec 3</dev/null; fi; '
          'setsid "$@" <&3 >>"$log" 2>&1 3<&- & echo $!')


def init_lines(uid: int | None, gid: int | None) -> list[str]:
    """The tail of the namespace script for a pid-namespace session: its own /proc; none of the host's nsfs mounts
    (CRIU cannot dump a mount of another namespace's handle) or container layers (a container that stops takes
    its mount away, and a restore would need it); the log dir, stdio opened inside, then reap children forever."""
    owner = f"chown {uid} {LOG_DIR}" if uid is not None else "true"
    # the init drops to the session user too: CRIU runs as that user (see `step_envs.providers.criu`), and reads
    # every process's limits, which needs the same uid where root lacks CAP_SYS_RESOURCE (a container)
    become = f"setpriv --reuid={uid} --regid={gid} --clear-groups " if uid is not None else ""
    return ["mount -t proc -o nosuid,nodev,noexec proc /proc",
            # mounts the session has no use for and that may vanish on the host before a restore needs them:
            # namespace handles (nsfs), container engines' layers and their /run state
            "awk '{t=\"\"; for(i=7;i<=NF;i++) if($i==\"-\"){t=$(i+1); break}} t==\"nsfs\" || t==\"overlay\" || "
            "$5 ~ /^\\/(var\\/lib|run)\\/(docker|containerd)/ {print $5}' /proc/self/mountinfo | sort -r"
            " | xargs -r umount -l",
            f"mkdir -p -m 700 {LOG_DIR}", owner,
            "echo ready", "exec </dev/null >/dev/null 2>&1",
            # the init: a shell whose wait for its `sleep` (waitpid(-1)) also reaps whatever is re-parented to it
            f"exec {become}sh -c 'while :; do sleep 60; done'"]


def ns_pid(pid: int) -> int | None:
    """The pid of host process ``pid`` inside its innermost pid namespace (the last of ``NSpid``)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    return None


def children(pid: int) -> list[int]:
    """The host pids of ``pid``'s children."""
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def host_pid(init: int, wanted: int) -> int | None:
    """The host pid of the init's child whose namespace pid is ``wanted``."""
    for child in children(init):
        if ns_pid(child) == wanted:
            return child
    return None


def descendants(pid: int) -> set[int]:
    """``pid``'s whole tree below it (host pids)."""
    found, todo = set(), [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    return False


class NsProcess:
    """A session process started by the launcher: the subset of ``subprocess.Popen`` the provider uses (``pid``,
    ``poll``, ``returncode``, ``terminate``, ``wait``, ``stdin``), for a process that is the namespace init's child,
    not ours. ``pid`` is the host pid; a restore of the session moves it (see :meth:`follow`)."""

    def __init__(self, pid: int, namespace_pid: int, stdin: object = None) -> None:
        self.pid, self.ns_pid, self.stdin = pid, namespace_pid, stdin
        self.returncode: int | None = None

    def follow(self, init: int) -> None:
        """After a restore: the same namespace pid under the new init."""
        self.pid = host_pid(init, self.ns_pid) or -1
        self.returncode = None if self.pid > 0 else -signal.SIGKILL

    def poll(self) -> int | None:
        if self.returncode is None and (self.pid <= 0 or not _running(self.pid) or ns_pid(self.pid) != self.ns_pid):
            self.returncode = -1  # not our child: its exit status is the init's to read
        return self.returncode

    def terminate(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.01)
        return self.returncode  # type: ignore[return-value]


# --- forks: a copy of a session in a network namespace of its own ------------------------------------------

CLONE_NEWNET = 0x40000000


class NetNamespace:
    """A network namespace with only loopback, held open by a sleeping process (root): a forked session is
    restored into it, so its controller can listen on the same 127.0.0.1 port as its parent's."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["unshare", "--net", "--", "sh", "-c", "ip link set lo up && echo ready && "
                                      "exec sleep infinity"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            error = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            self.proc.kill()
            raise OSError(f"could not make a network namespace: {error.strip()}")
        self.path = f"/proc/{self.proc.pid}/ns/net"

    def connect(self, port: int, timeout: float = 10.0) -> socket.socket:
        """A TCP connection to 127.0.0.1:``port`` inside the namespace: the socket is made by a thread that
        entered it (a network namespace is per thread), and works from any thread afterwards."""
        result: list[object] = []

        def enter() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                with open(self.path) as handle:
                    if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns into the fork's network namespace failed")
                sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                sock.settimeout(None)
                result.append(sock)
            except OSError as exc:
                result.append(exc)

        thread = threading.Thread(target=enter, daemon=True)
        thread.start()
        thread.join()
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]  # type: ignore[return-value]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Relay:
    """127.0.0.1:``port`` on the host, relayed to 127.0.0.1:``target`` in ``net``: how this process reaches a
    forked session's controller. A thread accepts; two threads per connection copy bytes until either side
    closes."""

    def __init__(self, net: NetNamespace, target: int) -> None:
        self.net, self.target = net, target
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name=f"step-gym-relay-{self.port}").start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = self.net.connect(self.target)
            except OSError:
                client.close()
                continue
            self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(1 << 16):
                sink.sendall(chunk)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            self._open.discard(sock)

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        for sock in list(self._open):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
