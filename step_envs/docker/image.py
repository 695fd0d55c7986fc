"""Building the desktop image with the Docker SDK, with no registry needed.

The base is ``debian:bookworm-slim`` when the engine has it or can pull it; otherwise a minimal Debian bookworm is
bootstrapped with ``debootstrap`` (from the host's own Debian mirror) and imported as ``step-gym/debian:bookworm``.
The build context is assembled here, deterministically, so an unchanged rebuild is a cache hit: the Dockerfile and
package lists of ``step_envs/data/desktop/image``, wheels of the Python dependencies (built once on the host and cached, so the
image build needs no Python index), and the sources (``step_envs``, its data included). Builds use the host
network (the engine here may have no bridge).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from step_envs.docker.engine import DockerUnavailable, docker_client

PACKAGE = Path(__file__).resolve().parents[1]
"""This copy of `step_envs` (a checkout's or an installed wheel's): the image is built from it."""
IMAGE_DIR = PACKAGE / "data" / "desktop" / "image"
IMAGE_REPOSITORY = "step-gym/desktop"
VARIANTS = ("full", "slim")
OFFICIAL_BASE = "debian:bookworm-slim"
BOOTSTRAP_BASE = "step-gym/debian:bookworm"
# dependencies the in-container code never imports (the host side talks to the engine, not the container)
HOST_ONLY_DEPS = {"docker", "android-env", "immutabledict", "ray"}
# keep the bootstrapped base as lean as the official slim image: no docs, man pages or translations
DPKG_EXCLUDES = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
"""

Log = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """The image could not be built; the message says which step failed and carries its output."""


def image_tag(variant: str = "full") -> str:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return f"{IMAGE_REPOSITORY}:{'latest' if variant == 'full' else variant}"


@dataclass
class BuildResult:
    """What one image build made: the ``tag`` and ``image_id``, the ``base`` it was built on, how long it took,
    whether it was all cache hits, and the image's size.
    """

    tag: str
    image_id: str
    base: str
    seconds: float
    cached: bool
    """True when the build changed nothing (every step a cache hit: the tag already pointed at this image)."""
    size_bytes: int


# --- the base image --------------------------------------------------------------------------------------


def _has_image(client: Any, name: str) -> bool:
    import docker.errors

    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def host_debian_mirror() -> str:
    """The Debian mirror this host's apt uses (``$STEP_ENVS_DEBIAN_MIRROR`` overrides)."""
    configured = os.environ.get("STEP_ENVS_DEBIAN_MIRROR")
    if configured:
        return configured
    texts = [p.read_text(errors="replace") for p in [Path("/etc/apt/sources.list"),
                                                      *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
             if p.is_file() and p.suffix in ("", ".list", ".sources")]
    for text in texts:
        for match in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.MULTILINE):
            uri = match.group(1)
            if not uri.rstrip("/").endswith("-security"):
                return uri
    raise ImageBuildError("cannot find a Debian mirror in /etc/apt/sources.list*; set STEP_ENVS_DEBIAN_MIRROR")


def bootstrap_base(client: Any, log: Log = print, suite: str = "bookworm") -> str:
    """``debootstrap --variant=minbase`` into a temp dir and ``docker import`` it as BOOTSTRAP_BASE."""
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed: apt-get install debootstrap (make install does it)")
    if os.geteuid() != 0:
        raise ImageBuildError("debootstrap needs root; run `step-envs image build` as root (or with sudo)")
    mirror = host_debian_mirror()
    with tempfile.TemporaryDirectory(prefix="step-gym-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        (root / "etc" / "dpkg" / "dpkg.cfg.d").mkdir(parents=True)
        (root / "etc" / "dpkg" / "dpkg.cfg.d" / "excludes").write_text(DPKG_EXCLUDES)
        log(f"bootstrapping Debian {suite} (minbase) with debootstrap; this takes a few minutes once")
        proc = subprocess.run(["debootstrap", "--variant=minbase", suite, str(root), mirror],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise ImageBuildError(f"debootstrap failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-3000:]}")
        host_sources = Path("/etc/apt/sources.list.d/debian.sources")
        if host_sources.is_file():  # the host's suites (updates, security) and signing keys, as apt sees them
            shutil.copy(host_sources, root / "etc/apt/sources.list.d/debian.sources")
            (root / "etc/apt/sources.list").unlink(missing_ok=True)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for child in (root / junk).glob("*"):
                if child.is_file():
                    child.unlink()
        tar_path = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tar_path), "."], check=True)
        repository, tag = BOOTSTRAP_BASE.split(":")
        log(f"importing the root filesystem as {BOOTSTRAP_BASE}")
        client.api.import_image(src=str(tar_path), repository=repository, tag=tag)
    return BOOTSTRAP_BASE


def ensure_base(client: Any, log: Log = print) -> str:
    """The base image to build FROM: the official slim image if here or pullable, else a bootstrapped one."""
    if _has_image(client, OFFICIAL_BASE):
        return OFFICIAL_BASE
    if _has_image(client, BOOTSTRAP_BASE):
        return BOOTSTRAP_BASE
    import docker.errors

    try:
        repository, tag = OFFICIAL_BASE.split(":")
        client.images.pull(repository, tag=tag)
        return OFFICIAL_BASE
    except (docker.errors.APIError, docker.errors.DockerException) as exc:
        log(f"cannot pull {OFFICIAL_BASE} ({str(exc).splitlines()[0][:120]}); bootstrapping a base instead")
    return bootstrap_base(client, log)


# --- the build context -----------------------------------------------------------------------------------


def image_requirements() -> list[str]:
    """The project's runtime dependencies that code inside the container imports."""
    pyproject = PACKAGE.parent / "pyproject.toml"
    if pyproject.is_file():  # a checkout: its pyproject, which may be newer than the installed metadata
        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    else:  # an installed wheel: its metadata (the extras' requirements carry an `extra ==` marker)
        deps = [d for d in importlib.metadata.requires("step-gym") or [] if "extra ==" not in d]
    return [d for d in deps if re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() not in HOST_ONLY_DEPS]


def wheel_dir(log: Log = print) -> Path:
    """Wheels of `image_requirements()` for the image's Python (3.11), cached per requirement set."""
    if sys.version_info[:2] != (3, 11):
        raise ImageBuildError(f"the image runs Debian bookworm's Python 3.11; build it from a Python 3.11 "
                              f"environment (this is {sys.version.split()[0]}): `make install` makes one")
    reqs = sorted(image_requirements())
    key = hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "step-gym" / "wheels" / key
    if (cache / ".complete").exists():
        return cache
    log(f"building wheels of {len(reqs)} dependencies for the image")
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(cache), *reqs],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ImageBuildError(f"pip wheel failed: {(proc.stdout + proc.stderr)[-3000:]}")
    (cache / ".complete").touch()
    return cache


def _add(tar: tarfile.TarFile, arcname: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(arcname)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _tree(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            yield path


def build_context(variant: str, log: Log = print) -> io.BytesIO:
    """A deterministic tar of everything the Dockerfile COPYs (same inputs, same bytes, cache hits)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, "Dockerfile", (IMAGE_DIR / "Dockerfile").read_bytes())
        _add(tar, "packages-slim.txt", (IMAGE_DIR / "packages-slim.txt").read_bytes())
        apps = (IMAGE_DIR / "packages-apps.txt").read_bytes() if variant == "full" else b""
        _add(tar, "packages-apps.txt", apps)
        _add(tar, "packages-tools.txt", (IMAGE_DIR / "packages-tools.txt").read_bytes())
        for wheel in sorted(wheel_dir(log).glob("*.whl")):
            _add(tar, f"wheels/{wheel.name}", wheel.read_bytes())
        for path in _tree(PACKAGE):
            _add(tar, f"src/{path.relative_to(PACKAGE.parent)}", path.read_bytes())
    buf.seek(0)
    return buf


# --- the build -------------------------------------------------------------------------------------------


def build_image(variant: str = "full", tag: str | None = None, log: Log = print, client: Any = None,
                nocache: bool = False) -> BuildResult:
    """Build (or find cached) the desktop image; `log` gets one line per build step. ``nocache`` rebuilds
    every step (the base image and the wheel cache are kept)."""
    tag = tag or image_tag(variant)
    client = client or docker_client()
    started = time.monotonic()
    base = ensure_base(client, log)
    context = build_context(variant, log)
    log(f"building {tag} from {base} ({variant})")
    previous = client.images.get(tag).id if _has_image(client, tag) else None
    image_id = ""
    errors: list[str] = []
    tail: list[str] = []
    for chunk in client.api.build(fileobj=context, custom_context=True, tag=tag, buildargs={"BASE": base},
                                  network_mode="host", rm=True, forcerm=True, decode=True,
                                  nocache=nocache):
        if "error" in chunk:
            errors.append(str(chunk["error"]))
        text = str(chunk.get("stream", "")).rstrip()
        if text:
            tail = (tail + [text])[-40:]
            if text.startswith("Step "):
                log(text)
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
    if errors or not image_id:
        raise ImageBuildError(f"building {tag} failed: {' '.join(errors)}\n" + "\n".join(tail))
    image = client.images.get(tag)
    if previous and previous != image.id:  # the image this tag replaced: drop it unless something still uses it
        with contextlib.suppress(Exception):
            client.images.remove(previous)
    return BuildResult(tag=tag, image_id=image.id, base=base, seconds=time.monotonic() - started,
                       cached=image.id == previous, size_bytes=int(image.attrs.get("Size", 0)))


__all__ = ["VARIANTS", "BuildResult", "DockerUnavailable", "ImageBuildError", "build_image", "image_tag"]
