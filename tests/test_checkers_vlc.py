"""VLC's preference metrics on vlcrc files written the way VLC writes them (options at their default as comments),
and the fullscreen check on window and screen sizes."""

from pathlib import Path

import pytest

from step_envs.checkers import METRICS, Score
from step_envs.checkers.metrics.app_settings import vlcrc_settings

VLCRC = """\
###
###  vlc 3.0.20
###

[qt] # Qt interface
# Show the cone on the splash screen (boolean)
#qt-bgcone=1
# Maximum volume displayed (integer)
{max_volume}
# Minimal view (boolean)
#qt-minimal-view=0
# Define the colors of the volume slider (string)
{slider}

[core] # core program
# Record directory or filename (string)
{record}
# Allow only one running instance when started from file manager (boolean)
#one-instance-when-started-from-file=1
# Play and exit (boolean)
#play-and-exit=0
# Play/Pause (string)
{global_key}
"""


def vlcrc(folder: Path, max_volume: str = "#qt-max-volume=125", slider: str = "#qt-slider-colours=153;210;153;"
          "20;210;20;255;199;15;245;39;29", record: str = "#input-record-path=",
          global_key: str = "#global-key-play-pause=") -> str:
    path = folder / f"vlcrc-{len(list(folder.glob('vlcrc-*')))}"
    path.write_text(VLCRC.format(max_volume=max_volume, slider=slider, record=record, global_key=global_key))
    return str(path)


def score(name: str, result, rules) -> Score:
    return METRICS[name](result, {"type": "rule", "rules": rules}["rules"])


def test_vlcrc_settings_skip_the_commented_defaults(tmp_path):
    assert vlcrc_settings(vlcrc(tmp_path, max_volume="qt-max-volume=200")) == {"qt-max-volume": "200"}


@pytest.mark.parametrize(("metric", "key", "default", "changed"), [
    ("check_qt_bgcone", "expected_qt_bgcone", 1, "qt-bgcone=0"),
    ("check_qt_max_volume", "expected_qt_max_volume", 125, "qt-max-volume=200"),
    ("check_qt_minimal_view", "expected_qt_minimal_view", 0, "qt-minimal-view=1"),
    ("check_one_instance_when_started_from_file", "expected_one_instance_when_started_from_file", 1,
     "one-instance-when-started-from-file=0"),
    ("check_play_and_exit", "expected_play_and_exit", 0, "play-and-exit=1"),
])
def test_an_option_left_at_its_default_reads_the_default_and_a_saved_one_its_value(
        tmp_path, metric, key, default, changed):
    untouched = vlcrc(tmp_path)
    assert score(metric, untouched, {key: default}).value == 1.0
    option, value = changed.split("=")
    saved = vlcrc(tmp_path, max_volume=changed)  # any line of the file will do
    assert score(metric, saved, {key: int(value)}) == Score(1.0, f"{option} is {value}")
    assert score(metric, untouched, {key: int(value)}) == Score(
        0.0, f"{option} is {str(default)!r}, not {value!r}")


def test_global_play_pause_key_counts_as_set_when_it_names_a_key(tmp_path):
    rules = {"expected_global_key_play_pause": 1}
    assert score("check_global_key_play_pause", vlcrc(tmp_path, global_key="global-key-play-pause=Ctrl+Space"),
                 rules).value == 1.0
    assert score("check_global_key_play_pause", vlcrc(tmp_path), rules).value == 0.0
    assert score("check_global_key_play_pause", vlcrc(tmp_path, global_key="global-key-play-pause="),
                 rules).value == 0.0


def test_slider_colours_blackish_or_matching(tmp_path):
    dark = vlcrc(tmp_path, slider="qt-slider-colours=0;0;0;20;20;20;40;40;40;99;99;99")
    assert score("check_qt_slider_colours", dark, {"type": "blackish"}).value == 1.0
    assert score("check_qt_slider_colours", vlcrc(tmp_path), {"type": "blackish"}).value == 0.0
    assert score("check_qt_slider_colours", dark, {"type": "match", "expected_qt_slider_colours":
                                                   "0;0;0;20;20;20;40;40;40;99;99;99"}).value == 1.0
    with pytest.raises(ValueError, match="use 'match' or 'blackish'"):
        score("check_qt_slider_colours", dark, {"type": "dark"})


def test_recordings_folder_is_compared_as_a_folder(tmp_path):
    rules = {"recording_file_path": "/home/user/Desktop"}
    for saved in ("/home/user/Desktop", "/home/user/Desktop/"):
        assert score("is_vlc_recordings_folder", vlcrc(tmp_path, record=f"input-record-path={saved}"),
                     rules).value == 1.0
    assert score("is_vlc_recordings_folder", vlcrc(tmp_path, record="input-record-path=/tmp/Desktop"),
                 rules).value == 0.0
    assert score("is_vlc_recordings_folder", vlcrc(tmp_path), rules) == Score(0.0, "input-record-path is not set")


def test_fullscreen_compares_the_window_with_the_screen():
    screen = {"width": 1280, "height": 720}
    assert METRICS["is_vlc_fullscreen"](screen, {"width": 1280, "height": 720}).value == 1.0
    assert METRICS["is_vlc_fullscreen"](screen, {"width": 800, "height": 600}) == Score(
        0.0, "window 800x600 is not the screen's 1280x720")
    assert METRICS["is_vlc_fullscreen"](screen, None) == Score(0.0, "no VLC window")
