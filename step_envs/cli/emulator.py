"""`step-envs emulator`: start Android emulator slots for envs to attach to, and hold them until Ctrl-C."""

from __future__ import annotations

import argparse
import signal

from rich.console import Console
from rich.table import Table

from step_envs.core import ProviderError
from step_envs.providers.emulator import DEFAULT_SDK, EmulatorProvider


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_emulator(args: argparse.Namespace) -> int:
    """Start ``--slots`` emulators from ``--avd``, print their ports, hold until Ctrl-C (or SIGTERM), then stop
    every one."""
    console, providers = Console(), []
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with console.status(f"starting {args.slots} emulator(s) from {args.avd}..."):
            for _ in range(args.slots):
                providers.append(EmulatorProvider(args.avd, sdk_root=args.sdk_root, avd_home=args.avd_home,
                                                  headless=not args.window))
                providers[-1].start()
        table = Table("slot", "serial", "console", "adb", "gRPC", "screen")
        for provider in providers:
            assert provider.ports is not None and provider.endpoint is not None
            table.add_row(str(provider.slot), provider.serial, *map(str, provider.ports),
                          f"{provider.endpoint.width}x{provider.endpoint.height}")
        console.print(table)
        console.print("Attach envs with emulator={'console_port': ..., 'adb_port': ..., 'grpc_port': ...}; "
                      "Ctrl-C stops them all.")
        signal.pause()
    except KeyboardInterrupt:
        pass
    except ProviderError as exc:
        console.print(f"[red]{exc}")
        return 1
    finally:
        for provider in providers:
            provider.stop()
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    emulator = sub.add_parser("emulator", help="start Android emulator slots and hold them until Ctrl-C",
                              description="Start --slots emulators from --avd, each on its own AVD copy and ports, "
                                          "print their ports, hold until Ctrl-C (or SIGTERM), then stop every one.")
    emulator.add_argument("--avd", required=True, help="the AVD to copy into each slot (avdmanager list avd)")
    emulator.add_argument("--slots", type=int, default=1, help="how many emulators to start (default 1)")
    emulator.add_argument("--sdk-root", default=DEFAULT_SDK, help=f"Android SDK root (default {DEFAULT_SDK})")
    emulator.add_argument("--avd-home", default="~/.android/avd", help="where the AVD lives (default ~/.android/avd)")
    emulator.add_argument("--window", action="store_true", help="show emulator windows (default: headless)")
    emulator.set_defaults(func=cmd_emulator)
