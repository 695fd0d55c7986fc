"""Audio, video and tag metrics on media FFmpeg makes in the test: the same sound re-encoded scores near 1 and
another sound far lower, a flipped video is not the original, MP3 tags are read as mutagen's EasyID3 names them."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from step_envs.checkers import METRICS, Score
from step_envs.checkers.metrics.media import fastdtw, mfcc

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs FFmpeg")


def ffmpeg(tmp_path: Path, name: str, *args: str) -> str:
    out = tmp_path / name
    subprocess.run(["nice", "-n", "19", "ffmpeg", "-v", "error", "-y", *args, str(out)], check=True, timeout=120)
    return str(out)


def chord(tmp_path: Path, name: str, *extra: str) -> str:
    return ffmpeg(tmp_path, name, "-f", "lavfi", "-i", "sine=frequency=440:duration=4", "-f", "lavfi", "-i",
                  "sine=frequency=660:duration=4", "-filter_complex", "amix=inputs=2", *extra)


def test_fastdtw_aligns_repeated_frames_at_no_cost():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    assert fastdtw(x, y) == (0.0, [(0, 0), (0, 1), (1, 2)])
    long_x, long_y = np.repeat(x, 20, axis=0), np.repeat(y, 10, axis=0)  # the recursive, windowed case
    cost, path = fastdtw(long_x, long_y)
    assert cost == pytest.approx(0.0) and path[0] == (0, 0) and path[-1] == (39, 29)


def test_mfcc_has_librosas_shape():
    assert mfcc(np.zeros(22050, np.float32)).shape == (20, 44)  # 1 s: 1 + 22050 // 512 frames


def test_compare_audios_scores_a_reencoding_near_one_and_another_sound_lower(tmp_path):
    original = chord(tmp_path, "song.wav")
    assert METRICS["compare_audios"](chord(tmp_path, "song.mp3", "-b:a", "96k"), original).value > 0.99
    noise = ffmpeg(tmp_path, "noise.wav", "-f", "lavfi", "-i", "anoisesrc=d=4:c=pink")
    assert METRICS["compare_audios"](noise, original).value < 0.6
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    assert METRICS["compare_audios"](str(empty), original) == Score(0.0, "empty.mp3 holds no readable sound")
    assert METRICS["compare_audios"](str(empty), str(empty)).value == 1.0


def test_compare_videos_tells_a_flipped_video_from_the_original(tmp_path):
    source = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=3", "-pix_fmt", "yuv420p"]
    original = ffmpeg(tmp_path, "v.mp4", *source)
    assert METRICS["compare_videos"](ffmpeg(tmp_path, "copy.mkv", *source), original) == Score(
        1.0, "same video (30 frames)")
    flipped = ffmpeg(tmp_path, "f.mp4", *source[:4], "-vf", "vflip,hflip", *source[4:])
    assert METRICS["compare_videos"](flipped, original).value == 0.0
    # a rotation flag is applied when decoding, as a player shows the video
    tagged = ffmpeg(tmp_path, "r.mp4", "-i", original, "-c", "copy", "-metadata:s:v:0", "rotate=90")
    turned = ffmpeg(tmp_path, "t.mp4", "-i", original, "-vf", "transpose=2", "-pix_fmt", "yuv420p")
    assert METRICS["compare_videos"](tagged, turned).value == 1.0
    shorter = ffmpeg(tmp_path, "s.mp4", *source[:3], source[3].replace("duration=3", "duration=2"), *source[4:])
    assert METRICS["compare_videos"](shorter, original) == Score(
        0.0, "one video ends first: 20 frames against 30")


def test_check_mp3_meta_reads_the_id3_title_and_artist(tmp_path):
    tagged = ffmpeg(tmp_path, "Cheng Xiang - Missing You.mp3", "-f", "lavfi", "-i", "sine=duration=1",
                    "-metadata", "title=Missing You", "-metadata", "artist=Cheng Xiang")
    rules = {"title": {"method": "eq", "ref": "Missing You"}, "artist": {"method": "eq", "ref": "Cheng Xiang"}}
    assert METRICS["check_mp3_meta"](tagged, rules) == Score(1.0, "tags ['artist', 'title'] as expected")
    blank = ffmpeg(tmp_path, "blank.mp3", "-f", "lavfi", "-i", "sine=duration=1")
    assert METRICS["check_mp3_meta"](blank, rules) == Score(0.0, "title is '', fails eq 'Missing You'")
