"""VLC's getters and metrics, with the rules of OSWorld's ``getters/vlc.py`` and ``metrics/vlc.py``: what VLC is
playing (its HTTP interface), its saved preferences (``vlcrc``) and its window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from step_envs.checkers.files import read_text
from step_envs.checkers.general import rules_of, verdict
from step_envs.checkers.getters import env_home_file, env_python, save_to_cache
from step_envs.checkers.registry import NO_RESULT, CheckContext, Score, getter, metric, short

VLC_HTTP_PORT = 8080
VLC_HTTP_PASSWORD = "password"
"""VLC's HTTP interface as OSWorld's tasks start it (``--extraintf http --http-password password``, port 8080)."""


@getter("vlc_playing_info")
def vlc_playing_info(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """VLC's ``/requests/status.xml`` from its HTTP interface in the env, saved to ``cache_dir/dest``; None when VLC
    does not answer."""
    script = ("import base64, sys, urllib.request; request = urllib.request.Request("
              f"'http://127.0.0.1:{VLC_HTTP_PORT}/requests/status.xml', headers={{'Authorization': 'Basic ' + "
              f"base64.b64encode(b':{VLC_HTTP_PASSWORD}').decode()}}); "
              "sys.stdout.write(urllib.request.urlopen(request, timeout=10).read().decode())")
    output = env_python(ctx, script)
    return save_to_cache(ctx, config, output.encode() if output else None)


@getter("vlc_config")
def vlc_config(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """VLC's ``~/.config/vlc/vlcrc`` in the env, fetched into ``cache_dir/dest``; None when VLC has not saved one."""
    return save_to_cache(ctx, config, env_home_file(ctx, "~/.config/vlc/vlcrc"))


_VLC_FILE_FIELDS = ("filename", "title", "uri", "location", "name")
_VLC_URL_FIELDS = ("url", "URI", "location", "title", "filename")


@metric("is_vlc_playing")
def is_vlc_playing(result: str | None, rules: Any, **options: Any) -> Score:
    """VLC's HTTP ``status.xml``: 1 when the state is ``playing`` and the first non-empty meta field among
    filename/title/uri/location/name ends with ``rules["file_name"]`` (``type: file_name``), or the first among
    url/URI/location/title/filename contains ``rules["url"]`` or equals its last path part (``type: url``)."""
    rules = rules_of(rules, "{'type': 'file_name' | 'url', 'file_name' | 'url': text}")
    kind = rules.get("type")
    if kind not in ("file_name", "url"):
        raise ValueError(f"rules['type'] is {kind!r}; use 'file_name' or 'url'")
    if result is None:
        return NO_RESULT
    tree = ElementTree.fromstring(Path(result).read_bytes())
    state = tree.findtext("state")
    if state != "playing":
        return Score(0.0, f"VLC is {state or 'in no state'}, not playing")
    fields = _VLC_FILE_FIELDS if kind == "file_name" else _VLC_URL_FIELDS
    info = next((text for name in fields
                 if (text := tree.findtext(f'information/category[@name="meta"]/info[@name="{name}"]'))), None)
    if info is None:
        return Score(0.0, "VLC's status names no file")
    if kind == "file_name":
        wanted = rules["file_name"]
        return verdict(info.endswith(wanted), f"playing {info}", f"playing {info}, not {wanted}")
    wanted = rules["url"]
    last = wanted.rstrip("/").rsplit("/", 1)[-1]
    return verdict(wanted in info or info == last, f"playing {info}", f"playing {info}, not {wanted}")


def vlcrc_settings(path: str) -> dict[str, str]:
    """The options ``vlcrc`` sets: its ``key=value`` lines that are not comments (VLC writes an option left at its
    default as a comment, ``#key=default``), values stripped; a later line wins."""
    settings = {}
    for line in read_text(path).splitlines():
        key, equals, value = line.partition("=")
        if equals and not line.startswith("#") and key.strip():
            settings[key.strip()] = value.strip()
    return settings


def _expected(rules: Any, key: str) -> str:
    """``rules[key]`` as text (OSWorld's tasks give numbers as ints)."""
    value = rules_of(rules, f"{{{key!r}: value}}").get(key)
    if value is None:
        raise ValueError(f"needs rules[{key!r}] (getter 'rule'), got {short(rules)}")
    return str(value)


def _option_is(result: str | None, option: str, default: str, wanted: str) -> Score:
    if result is None:
        return NO_RESULT
    value = vlcrc_settings(result).get(option, default)
    return verdict(value == wanted, f"{option} is {value}", f"{option} is {value!r}, not {wanted!r}")


@metric("check_qt_bgcone")
def check_qt_bgcone(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``qt-bgcone`` (the cone on the splash screen; VLC's default 1) is ``rules["expected_qt_bgcone"]``."""
    return _option_is(result, "qt-bgcone", "1", _expected(rules, "expected_qt_bgcone"))


@metric("check_qt_max_volume")
def check_qt_max_volume(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``qt-max-volume`` (default 125) is ``rules["expected_qt_max_volume"]``."""
    return _option_is(result, "qt-max-volume", "125", _expected(rules, "expected_qt_max_volume"))


@metric("check_qt_minimal_view")
def check_qt_minimal_view(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``qt-minimal-view`` (default 0) is ``rules["expected_qt_minimal_view"]``."""
    return _option_is(result, "qt-minimal-view", "0", _expected(rules, "expected_qt_minimal_view"))


@metric("check_one_instance_when_started_from_file")
def check_one_instance_when_started_from_file(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``one-instance-when-started-from-file`` (default 1) is the rules' expected value."""
    return _option_is(result, "one-instance-when-started-from-file", "1",
                      _expected(rules, "expected_one_instance_when_started_from_file"))


@metric("check_play_and_exit")
def check_play_and_exit(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``play-and-exit`` (quit at the end of the playlist; default 0) is ``rules["expected_play_and_exit"]``."""
    return _option_is(result, "play-and-exit", "0", _expected(rules, "expected_play_and_exit"))


@metric("check_global_key_play_pause")
def check_global_key_play_pause(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when a global play/pause hot key is set (``1``: ``global-key-play-pause`` names a key) or not (``0``), as
    ``rules["expected_global_key_play_pause"]`` asks."""
    wanted = _expected(rules, "expected_global_key_play_pause")
    if result is None:
        return NO_RESULT
    key = vlcrc_settings(result).get("global-key-play-pause", "")
    state = "1" if key else "0"
    return verdict(state == wanted, f"global play/pause key {key!r}", f"global play/pause key {key!r}: {state} "
                   f"is not {wanted}")


QT_SLIDER_COLOURS = "153;210;153;20;210;20;255;199;15;245;39;29"
"""VLC's default volume slider colours (four RGB triples)."""
BLACKISH_BELOW = 100


@metric("check_qt_slider_colours")
def check_qt_slider_colours(result: str | None, rules: Any, **options: Any) -> Score:
    """``rules["type"]`` ``match``: 1 when ``qt-slider-colours`` is ``rules["expected_qt_slider_colours"]``;
    ``blackish``: 1 when every channel of every colour is under :data:`BLACKISH_BELOW`."""
    rules = rules_of(rules, "{'type': 'match' | 'blackish', ...}")
    kind = rules.get("type")
    if kind not in ("match", "blackish"):
        raise ValueError(f"rules['type'] is {kind!r}; use 'match' or 'blackish'")
    if result is None:
        return NO_RESULT
    colours = vlcrc_settings(result).get("qt-slider-colours", QT_SLIDER_COLOURS)
    if kind == "match":
        wanted = _expected(rules, "expected_qt_slider_colours")
        return verdict(colours == wanted, f"slider colours {colours}", f"slider colours {colours!r}, not {wanted!r}")
    try:
        channels = [int(part) for part in colours.split(";")]
    except ValueError:
        return Score(0.0, f"slider colours {colours!r} are not numbers")
    return verdict(all(channel < BLACKISH_BELOW for channel in channels), f"slider colours {colours} are blackish",
                   f"slider colours {colours} are not all under {BLACKISH_BELOW}")


@metric("is_vlc_recordings_folder")
def is_vlc_recordings_folder(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when ``input-record-path`` (where recordings go) is the folder ``rules["recording_file_path"]`` (a
    trailing ``/`` aside); unset scores 0."""
    wanted = _expected(rules, "recording_file_path")
    if result is None:
        return NO_RESULT
    folder = vlcrc_settings(result).get("input-record-path")
    if folder is None:
        return Score(0.0, "input-record-path is not set")
    return verdict(folder.rstrip("/") == wanted.rstrip("/"), f"recordings go to {folder}", f"recordings go to {folder}, not "
                   f"{wanted}")


@metric("is_vlc_fullscreen")
def is_vlc_fullscreen(result: Any, expected: Any, **options: Any) -> Score:
    """1 when the two sizes (``{"width", "height"}``: the screen's and VLC's window's, getters ``vm_screen_size``
    and ``vm_window_size``) are equal; no window scores 0."""
    if result is None or expected is None:
        return Score(0.0, "no VLC window" if expected is None else "no screen size")
    sizes = [(size.get("width"), size.get("height")) for size in (result, expected)]
    return verdict(sizes[0] == sizes[1], f"{sizes[1][0]}x{sizes[1][1]} fills the screen",
                   f"window {sizes[1][0]}x{sizes[1][1]} is not the screen's {sizes[0][0]}x{sizes[0][1]}")


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
