"""Pre-warmed app profiles: what an app writes into an empty home the first time it runs, put into every fresh home
so that each episode's first start of the app is a second start.

A home seeded from the skeleton alone has no profile for the heavy apps, so every episode pays their first-start
work: LibreOffice finds no build id in its profile, re-registers its bundled extensions and restarts itself (~0.5 s
of each LibreOffice task's reset), GIMP queries every plug-in and writes its caches (~2 s). The profiles here become
part of the session's pristine home: the provider snapshots the home after seeding it, and every restore puts each
of its files back, so an episode starts from the same profile every time and whatever it changed is gone.

- ``libreoffice``: ``~/.config/libreoffice/4/user/extensions/buildid``, the installation's build id (from its
  ``program/versionrc``), so the profile counts as set up for this installation. Written at seeding, no cache.
- ``vlc``: ``~/.config/vlc/vlcrc`` saying the privacy question was answered, as VLC writes it after its first run
  (its dialog would otherwise cover the player at every episode), with VLC's web interface on (``extraintf=http``,
  Lua HTTP password ``password``) as on OSWorld's VM, whose ``vlc_playing_info`` getter asks the player's state at
  ``http://127.0.0.1:8080/requests/status.xml`` (vlc 59f21cfb), or on the port a local session has of its own
  (``$STEP_VLC_HTTP_PORT``: local sessions share the host's network). Written at seeding, no cache.
- ``gimp``: the profile ``gimp-console`` writes on its first start (``~/.config/GIMP``, ``~/.cache/babl``). Built
  once per machine into the cache directory (:func:`build`: ``python -m step_envs.providers.profiles build``; the
  image build runs it), keyed by the installed program, so an upgrade gets a new one; a session whose cache has none
  seeds without it (GIMP then does its first-start work in each episode, as it would without this module).

The cache directory is ``$STEP_ENVS_PROFILE_CACHE``, else ``/var/cache/step-gym/profiles`` as root, else
``~/.cache/step-gym/profiles``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from step_envs.server import app_ports

CACHE_ENV = "STEP_ENVS_PROFILE_CACHE"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUILD_TIMEOUT_S = 300
LIBREOFFICE_BUILDID = ".config/libreoffice/4/user/extensions/buildid"
VLC_CONFIG = ".config/vlc/vlcrc"
VLC_ANSWERED = (b"[qt]\n# the privacy and network access question was answered\nqt-privacy-ask=0\n\n"
                b"[core]\n# the web interface, as on OSWorld's VM (its vlc_playing_info getter reads status.xml)\n"
                b"extraintf=http\n\n[lua]\nhttp-password=password\n")


class ProfileBuildError(RuntimeError):
    """An app could not build its profile (the message carries its output)."""


def cache_dir() -> Path:
    """Where built profiles are kept (the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    if os.geteuid() == 0:
        return Path("/var/cache/step-gym/profiles")
    return Path.home() / ".cache" / "step-gym" / "profiles"


def _program(name: str) -> Path | None:
    found = shutil.which(name, path=SYSTEM_PATH)
    return Path(found).resolve() if found else None


def libreoffice_files(ports: Mapping[str, int]) -> dict[str, bytes]:
    """``{path in the home: contents}`` that make a LibreOffice profile current for the installed LibreOffice; empty
    when none is installed (or its ``versionrc`` names no build id)."""
    soffice = _program("soffice")
    versionrc = soffice.parent / "versionrc" if soffice else None
    if versionrc is None or not versionrc.is_file():
        return {}
    for line in versionrc.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "buildid" and value.strip():
            return {LIBREOFFICE_BUILDID: value.strip().encode()}
    return {}


def vlc_files(ports: Mapping[str, int]) -> dict[str, bytes]:
    """``{path in the home: contents}``: VLC's settings with its first-run question answered, when VLC is installed;
    its web interface on the session's own port when ``ports`` has one (``$STEP_VLC_HTTP_PORT``,
    :mod:`step_envs.server.app_ports`)."""
    if not _program("vlc"):
        return {}
    port = ports.get(app_ports.VLC_HTTP_ENV)
    own = f"# this session's own port for it (a local session shares the host's network)\nhttp-port={port}\n"
    return {VLC_CONFIG: VLC_ANSWERED.replace(b"extraintf=http\n", b"extraintf=http\n" + own.encode())
            if port else VLC_ANSWERED}


@dataclass(frozen=True)
class ProfileBuild:
    """How an app's profile is built: ``command`` run once with an empty ``HOME`` and no display; everything it
    writes there is the profile. ``program`` keys the cache (its path, size and modification time)."""

    program: str
    command: tuple[str, ...]

    def key(self) -> str | None:
        """The cache key of the installed program, or None when it is not installed."""
        path = _program(self.program)
        if path is None:
            return None
        info = path.stat()
        text = f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0{' '.join(self.command)}"
        return hashlib.sha1(text.encode()).hexdigest()[:12]


WRITTEN: dict[str, Callable[[Mapping[str, int]], dict[str, bytes]]] = {"libreoffice": libreoffice_files,
                                                                        "vlc": vlc_files}
"""Profiles written at seeding: app -> the files (home-relative path -> contents) to write, given the session's own
app ports."""
BUILT: dict[str, ProfileBuild] = {
    "gimp": ProfileBuild("gimp-console", ("gimp-console", "--no-interface", "--batch", "(gimp-quit 0)")),
}
"""Profiles built once into the cache: app -> how."""
APPS = (*WRITTEN, *BUILT)


def cached_profile(app: str, cache: Path | None = None) -> Path | None:
    """The built profile of ``app`` for the installed program (a home-relative tree), or None when none was built."""
    key = BUILT[app].key()
    if key is None:
        return None
    path = (cache or cache_dir()) / f"{app}-{key}"
    return path if path.is_dir() else None


def build(apps: tuple[str, ...] = tuple(BUILT), cache: Path | None = None,
          log: Callable[[str], None] = print) -> dict[str, Path]:
    """Build the profile of each installed app of ``apps`` that has none in the cache yet; returns app -> profile
    (built now or before). An app that is not installed is skipped; one that fails raises `ProfileBuildError`."""
    unknown = sorted(set(apps) - set(BUILT))
    if unknown:
        raise ValueError(f"no profile build for {', '.join(unknown)}; known: {', '.join(BUILT)}")
    cache = cache or cache_dir()
    done = {}
    for app in apps:
        spec, existing = BUILT[app], cached_profile(app, cache)
        if existing is not None:
            done[app] = existing
            continue
        key = spec.key()
        if key is None:
            log(f"{app}: {spec.program} is not installed, no profile")
            continue
        cache.mkdir(parents=True, exist_ok=True)
        home = Path(tempfile.mkdtemp(prefix=f".{app}-", dir=cache))
        try:
            env = {"PATH": SYSTEM_PATH, "HOME": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
            proc = subprocess.run(list(spec.command), env=env, cwd=home, capture_output=True, text=True,
                                  timeout=BUILD_TIMEOUT_S, stdin=subprocess.DEVNULL)
            if proc.returncode != 0 or not any(home.iterdir()):
                raise ProfileBuildError(f"{' '.join(spec.command)} exited with {proc.returncode} and wrote "
                                        f"{len(list(home.rglob('*')))} files: {(proc.stderr or proc.stdout)[-2000:]}")
            home.chmod(0o755)  # read by the provider, which copies it into each session's home
            target = cache / f"{app}-{key}"
            os.replace(home, target)  # whole or not at all; a concurrent builder's copy is as good
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)
            raise
        log(f"{app}: built {target}")
        done[app] = target
    return done


def seed(home: Path, cache: Path | None = None, ports: Mapping[str, int] | None = None) -> list[str]:
    """Put the pre-warmed profiles into ``home`` (not yet handed to its user: ownership is the caller's): the
    written ones, and the built ones the cache has. ``ports``: the session's own app ports
    (:mod:`step_envs.server.app_ports`). Returns the apps seeded."""
    seeded = []
    for app, files in WRITTEN.items():
        contents = files(ports or {})
        for rel, data in contents.items():
            path = home / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if contents:
            seeded.append(app)
    for app in BUILT:
        profile = cached_profile(app, cache)
        if profile is not None:
            shutil.copytree(profile, home, dirs_exist_ok=True, symlinks=True)
            seeded.append(app)
    return seeded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m step_envs.providers.profiles", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("build", help="build the profiles the cache lacks, for the apps installed here")
    make.add_argument("apps", nargs="*", default=list(BUILT), help=f"apps (default: all of {', '.join(BUILT)})")
    make.add_argument("--cache", type=Path, help=f"the cache directory (default: {cache_dir()})")
    args = parser.parse_args(argv)
    try:
        build(tuple(args.apps), args.cache)
    except (ProfileBuildError, ValueError, subprocess.TimeoutExpired) as exc:
        print(f"step-gym: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
