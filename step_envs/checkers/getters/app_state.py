"""Getters of apps' saved settings and live state, with the rules of OSWorld's ``getters/gimp.py``,
``getters/vscode.py`` and ``getters/vlc.py``: GIMP's and VLC's config files, a VS Code extension's state, what VLC is
playing (its HTTP interface), the default video player.
"""

from __future__ import annotations

from typing import Any

from step_envs.checkers.getters.access import (
    COMMAND_TIMEOUT_S,
    env_home_file,
    env_python,
    save_to_cache,
    text_of,
)
from step_envs.checkers.registry import CheckContext, getter
from step_envs.server import app_ports


@getter("gimp_config_file")
def gimp_config_file(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """GIMP 2.10's ``~/.config/GIMP/2.10/<file_name>`` in the env, fetched into ``cache_dir/dest``."""
    return save_to_cache(ctx, config, env_home_file(ctx, f"~/.config/GIMP/2.10/{text_of(config, 'file_name')}"))


@getter("vscode_config")
def vscode_config(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """Run ``vscode_extension_command`` from VS Code's command palette (ctrl+shift+p, type it, enter; the command
    writes the state to ``path``), wait a second, then fetch ``path`` into ``cache_dir/dest``."""
    command = text_of(config, "vscode_extension_command")
    ctx.client.act(f"import pyautogui, time; pyautogui.hotkey('ctrl', 'shift', 'p'); time.sleep(0.5); "
                   f"pyautogui.typewrite({command!r}); pyautogui.press('enter'); time.sleep(1.0)",
                   timeout=ctx.time_left(COMMAND_TIMEOUT_S))
    return save_to_cache(ctx, config, ctx.client.get_file(text_of(config, "path")))


VLC_HTTP_PASSWORD = "password"
"""VLC's HTTP interface as OSWorld's tasks start it (``--extraintf http --http-password password``, port 8080, or
a local session's own: :mod:`step_envs.server.app_ports`)."""


@getter("vlc_playing_info")
def vlc_playing_info(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """VLC's ``/requests/status.xml`` from its HTTP interface in the env, saved to ``cache_dir/dest``; None when VLC
    does not answer."""
    script = (f"import base64, sys, urllib.request\n{app_ports.VLC_IN_SESSION}\nrequest = urllib.request.Request("
              f"f'http://127.0.0.1:{{port}}/requests/status.xml', headers={{'Authorization': 'Basic ' + "
              f"base64.b64encode(b':{VLC_HTTP_PASSWORD}').decode()}}); "
              "sys.stdout.write(urllib.request.urlopen(request, timeout=10).read().decode())")
    output = env_python(ctx, script)
    return save_to_cache(ctx, config, output.encode() if output else None)


@getter("vlc_config")
def vlc_config(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """VLC's ``~/.config/vlc/vlcrc`` in the env, fetched into ``cache_dir/dest``; None when VLC has not saved one."""
    return save_to_cache(ctx, config, env_home_file(ctx, "~/.config/vlc/vlcrc"))


VIDEO_TYPES = ("3gp", "3gpp", "3gpp2", "avi", "divx", "dv", "fli", "flv", "mp2t", "mp4", "mp4v-es", "mpeg",
               "mpeg-system", "msvideo", "ogg", "quicktime", "vnd.divx", "vnd.mpegurl", "vnd.rn-realvideo", "webm",
               "x-anim", "x-avi", "x-flc", "x-fli", "x-flv", "x-m4v", "x-matroska", "x-mpeg", "x-mpeg-system",
               "x-mpeg2", "x-ms-asf", "x-ms-asf-plugin", "x-ms-asx", "x-ms-wm", "x-ms-wmv", "x-ms-wmx", "x-ms-wvx",
               "x-msvideo", "x-nsv", "x-ogm", "x-ogm+ogg", "x-theora", "x-theora+ogg")
"""The ``video/*`` MIME types OSWorld asks the default application of."""


@getter("default_video_player")
def default_video_player(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The desktop file (``vlc.desktop``) that ``xdg-mime`` in the env names most often as the default application
    of :data:`VIDEO_TYPES`; ``"unknown"`` when it names none (or is not installed), None when the query failed."""
    script = ("import collections, concurrent.futures, subprocess\n"
              "def ask(kind):\n"
              "    try:\n"
              "        return subprocess.run(['xdg-mime', 'query', 'default', 'video/' + kind], capture_output=True,"
              " text=True, timeout=10).stdout.strip()\n"
              "    except (OSError, subprocess.TimeoutExpired):\n        return ''\n"
              "with concurrent.futures.ThreadPoolExecutor(8) as pool:\n"
              f"    found = [answer for answer in pool.map(ask, {VIDEO_TYPES!r}) if answer]\n"
              "print(collections.Counter(found).most_common(1)[0][0] if found else 'unknown')")
    output = env_python(ctx, script)
    return output.strip() if output is not None else None
