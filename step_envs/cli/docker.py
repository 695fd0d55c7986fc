"""`step-envs image ...` and `step-envs docker ...`: build the desktop image, list and clean up containers."""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from step_envs.docker.containers import CREATED, OWNER_PID, gc, step_gym_containers
from step_envs.docker.engine import DockerUnavailable, docker_client
from step_envs.docker.image import VARIANTS, ImageBuildError, build_image, image_tag


def cmd_image_build(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    variants = VARIANTS if args.variant == "all" else (args.variant,)
    try:
        for variant in variants:
            with console.status(f"building {image_tag(variant)}") as status:
                result = build_image(variant, tag=args.tag,
                                     log=lambda line, v=variant: status.update(f"[bold]{v}[/bold] {line[:110]}"))
            state = "unchanged (cache hit)" if result.cached else "built"
            console.print(f"{result.tag}: {state} in {result.seconds:.1f} s, {result.size_bytes / 1e6:.0f} MB, "
                          f"base {result.base}")
    except (DockerUnavailable, ImageBuildError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    return 0


def cmd_docker_ps(args: argparse.Namespace) -> int:
    try:
        containers = step_gym_containers(docker_client())
    except DockerUnavailable as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        return 1
    table = Table(title=f"{len(containers)} step-gym containers")
    for column in ("name", "status", "image", "owner pid", "age s"):
        table.add_column(column)
    for container in containers:
        age = time.time() - int(container.labels.get(CREATED, time.time()))
        image = container.image.tags[0] if container.image.tags else container.image.short_id
        table.add_row(container.name, container.status, image, container.labels.get(OWNER_PID, "?"), f"{age:.0f}")
    Console().print(table)
    return 0


def cmd_docker_gc(args: argparse.Namespace) -> int:
    try:
        removed = gc(everything=args.all)
    except DockerUnavailable as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        return 1
    print(f"removed {len(removed)} container(s)" + (": " + ", ".join(removed) if removed else ""))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    image = sub.add_parser("image", help="build the desktop image").add_subparsers(dest="image_command",
                                                                                   required=True)
    build = image.add_parser("build", help="build the desktop image with the Docker SDK (cached; no registry "
                                           "needed: the base is bootstrapped with debootstrap when absent)")
    build.add_argument("--variant", choices=[*VARIANTS, "all"], default="full",
                       help="full: every app (default); slim: session, terminal, editor, file manager, "
                            "GTK 3 for Python (the widget suite)")
    build.add_argument("--tag", help=f"image tag (default {image_tag('full')} / {image_tag('slim')})")
    build.set_defaults(func=cmd_image_build)

    docker = sub.add_parser("docker", help="the step-gym containers on this engine").add_subparsers(
        dest="docker_command", required=True)
    docker.add_parser("ps", help="list step-gym containers").set_defaults(func=cmd_docker_ps)
    collect = docker.add_parser("gc", help="remove containers whose owner process is gone")
    collect.add_argument("--all", action="store_true", help="remove every step-gym container, live owners too")
    collect.set_defaults(func=cmd_docker_gc)
