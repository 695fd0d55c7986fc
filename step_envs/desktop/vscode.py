"""VS Code for OSWorld's vs_code tasks: code-server, VS Code's own code base served over HTTP, installed from npm.

Microsoft's VS Code is no Debian package, so step-gym uses `code-server <https://github.com/coder/code-server>`_
(MIT), pinned to :data:`VERSION` (VS Code 1.100.3), the newest release that runs on Node.js 20 (later ones need 22).
The session's ``code`` command (``step_envs/data/desktop/bin/code``, last on PATH, so a real VS Code install wins)
starts it on 127.0.0.1 and shows it in a Chromium ``--app`` window titled "... - Visual Studio Code", with VS Code's
own folders (``~/.config/Code``, ``~/.vscode/extensions``); see that script's header.

``python -m step_envs.desktop.vscode install`` (``make install`` runs it) puts it at ``$STEP_ENVS_CODE_SERVER``
(default :data:`DEFAULT_PREFIX`): ``npm install code-server@VERSION`` there, ~2 minutes and ~300 MB once (plus
~100-150 MB of npm cache), then a version check of seconds. It writes nowhere else but npm's cache. It needs Node.js
20 with npm and its headers (``/usr/include/node``, e.g. NodeSource's ``nodejs``), a C++ tool chain, ``libkrb5-dev``
and ``ripgrep`` (the last three are in ``step_envs/data/desktop/apt-packages.txt``). Where it cannot install, it says
what is missing and returns 0 (``make install`` goes on); the vs_code tasks then fail their reset at once, their
``code`` naming what to install. How the npm install is made to work offline but for npm's registry:

- a local install in the prefix, not ``npm install -g --prefix``: with ``-g``, npm hands ``npm_config_global=true``
  to code-server's post-install, whose nested ``npm install`` (in ``lib/vscode``) then ignores its shrinkwrap and
  fails (``ENOTEMPTY``);
- ``npm_config_nodedir=/usr``: the native modules (node-pty, spdlog, kerberos, ...) build against the system's
  Node.js headers instead of downloading them from nodejs.org; ``npm_config_yes=true``: node-pty's post-install runs
  ``npx node-gyp``, which would otherwise ask before fetching node-gyp from npm;
- ``@vscode/ripgrep``'s post-install downloads ``rg`` from GitHub unless its cache (in ``$TMPDIR``) has the
  archive: a ``$TMPDIR`` made for the install holds Debian's ``rg`` (the same ripgrep 13.0.0) under that name.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

VERSION = "4.100.3"
"""code-server's release: VS Code 1.100.3, the newest whose ``engines.node`` is 20."""
NODE_MAJOR = 20
DEFAULT_PREFIX = Path("/opt/step-gym/code-server")
RIPGREP_CACHE = "vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
"""Where @vscode/ripgrep (code-server 4.100.3's) looks for its download, under ``$TMPDIR``."""
STAMP = ".step-gym-installed"
"""A file in the prefix holding the installed version, written once npm's install has finished."""


def prefix() -> Path:
    """Where code-server lives: ``$STEP_ENVS_CODE_SERVER``, else :data:`DEFAULT_PREFIX`."""
    return Path(os.environ.get("STEP_ENVS_CODE_SERVER") or DEFAULT_PREFIX)


def entry(root: Path | None = None) -> Path:
    """code-server's entry script (``node ENTRY`` runs it), as the ``code`` launcher finds it."""
    return (root or prefix()) / "node_modules" / "code-server" / "out" / "node" / "entry.js"


def installed(root: Path | None = None) -> str | None:
    """The version installed at ``root`` by :func:`install` (None when none finished there)."""
    root = root or prefix()
    try:
        version = (root / STAMP).read_text().strip()
    except OSError:
        return None
    return version if entry(root).is_file() else None


def _node_major() -> int | None:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        return int(out.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


def _writable(path: Path) -> bool:
    while not path.exists():
        path = path.parent
    return os.access(path, os.W_OK)


def missing(root: Path | None = None) -> str | None:
    """Why :func:`install` cannot run here (what to install or do), or None."""
    root = root or prefix()
    if not _writable(root):
        return f"{root} is not writable (run make install as root, or set STEP_ENVS_CODE_SERVER to a writable folder)"
    if shutil.which("node") is None or shutil.which("npm") is None:
        return f"it needs Node.js {NODE_MAJOR} with npm (e.g. NodeSource's nodejs {NODE_MAJOR}.x package)"
    major = _node_major()
    if major != NODE_MAJOR:
        return f"it needs Node.js {NODE_MAJOR} (code-server {VERSION}'s engines.node), this host has {major or 'none'}"
    tools = [name for name in ("rg", "make", "g++", "python3") if shutil.which(name) is None]
    if tools or not Path("/usr/include/krb5.h").exists():
        return (f"{', '.join(tools) or 'krb5.h'} missing: apt-get install ripgrep make g++ python3 libkrb5-dev "
                "(make install's apt step does)")
    return None


def _seed_ripgrep(tmp: Path) -> None:
    """@vscode/ripgrep's download cache, filled with Debian's ``rg`` (see the module's docstring)."""
    archive = tmp / RIPGREP_CACHE
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(os.path.realpath(shutil.which("rg") or "rg"), arcname="rg")


def install(root: Path | None = None, quiet: bool = False) -> int:
    """Install code-server :data:`VERSION` at ``root`` (default :func:`prefix`) with npm, unless it is there.
    Returns 0 when it is installed or cannot be here (a note says what to do), 1 when npm's install failed."""
    say = (lambda *_: None) if quiet else (lambda text: print(text, flush=True))
    root = root or prefix()
    if installed(root) == VERSION:
        say(f"code-server: {VERSION} is installed at {root}: nothing to install")
        return 0
    why = missing(root)
    if why is not None:
        print(f"code-server (VS Code for OSWorld's vs_code tasks): not installed, {why}; skipped", flush=True)
        return 0
    print(f"code-server: installing {VERSION} at {root} with npm (~2 minutes and ~300 MB once)", flush=True)
    start = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    (root / STAMP).unlink(missing_ok=True)
    package = root / "package.json"
    if not package.exists():
        package.write_text(json.dumps({"name": "step-gym-code-server", "private": True}) + "\n")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        _seed_ripgrep(tmp)
        env = dict(os.environ, TMPDIR=str(tmp), npm_config_yes="true", npm_config_update_notifier="false")
        if Path("/usr/include/node/node.h").exists():
            env["npm_config_nodedir"] = "/usr"
        proc = subprocess.run(["npm", "install", "--unsafe-perm", "--no-audit", "--no-fund", "--no-save",
                               f"code-server@{VERSION}"], cwd=root, env=env, capture_output=True, text=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if proc.returncode != 0 or not entry(root).is_file():
        print(f"code-server: npm install failed ({proc.returncode}); VS Code tasks will not reset:\n"
              f"{(proc.stdout + proc.stderr)[-3000:]}", flush=True)
        return 1
    (root / STAMP).write_text(VERSION + "\n")
    say(f"code-server: {VERSION} installed at {root} in {time.monotonic() - start:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m step_envs.desktop.vscode",
                                     description="code-server (VS Code) for OSWorld's vs_code tasks.")
    sub = parser.add_subparsers(dest="command", required=True)
    install_parser = sub.add_parser("install", help=f"install code-server {VERSION} at {prefix()} with npm "
                                    "($STEP_ENVS_CODE_SERVER; skipped when it is there)")
    install_parser.add_argument("--quiet-if-present", action="store_true",
                                help="print nothing when it is installed already (make install runs this)")
    sub.add_parser("check", help="say whether code-server is installed, and what to do if not")
    args = parser.parse_args(argv)
    if args.command == "install":
        return install(quiet=args.quiet_if_present)
    version = installed()
    if version is not None:
        print(f"code-server {version} at {prefix()}")
        return 0
    why = missing()
    print(f"code-server: not installed at {prefix()}; " + (f"cannot install here: {why}" if why else "make install "
                                                             "installs it"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
