"""Pre-warmed app profiles (`step_envs.providers.profiles`): what a fresh home gets so the heavy apps skip their
first-run work; the process scan a restore relies on (zombies are not processes to wait for); a command that times
out answers with its partial output as text (undecoded, it broke the controller's JSON reply)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from step_envs.providers import profiles
from step_envs.providers.procs import user_pids
from step_envs.server.commands import run_command


def test_user_pids_leaves_out_zombies_but_not_live_processes() -> None:
    zombie = subprocess.Popen(["true"])
    live = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        found = user_pids(os.getuid())
        assert live.pid in found and zombie.pid not in found
    finally:
        live.kill()
        live.wait()
        zombie.wait()


@pytest.mark.skipif(shutil.which("soffice") is None, reason="needs LibreOffice")
def test_seeded_libreoffice_profile_carries_the_installed_build_id(tmp_path: Path) -> None:
    versionrc = Path(shutil.which("soffice")).resolve().parent / "versionrc"
    build_id = next(line.split("=", 1)[1] for line in versionrc.read_text().splitlines() if line.startswith("buildid="))
    assert "libreoffice" in profiles.seed(tmp_path, cache=tmp_path / "none")
    assert (tmp_path / profiles.LIBREOFFICE_BUILDID).read_text() == build_id.strip()


@pytest.mark.skipif(shutil.which("vlc") is None, reason="needs VLC")
def test_seeded_vlc_settings_answer_the_privacy_question(tmp_path: Path) -> None:
    profiles.seed(tmp_path, cache=tmp_path / "none")
    lines = (tmp_path / profiles.VLC_CONFIG).read_text().splitlines()
    assert "qt-privacy-ask=0" in lines
    assert {"extraintf=http", "http-password=password"} <= set(lines)  # the web interface OSWorld's getters ask


def test_a_built_profile_is_seeded_only_when_the_cache_has_it(tmp_path: Path) -> None:
    if profiles.BUILT["gimp"].key() is None:
        pytest.skip("needs GIMP")
    home = tmp_path / "home"
    home.mkdir()
    assert "gimp" not in profiles.seed(home, cache=tmp_path / "empty")
    assert not (home / ".config" / "GIMP").exists()


@pytest.mark.skipif(shutil.which("gimp-console") is None, reason="needs GIMP")
def test_build_makes_the_gimp_profile_once_and_seed_copies_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    built = profiles.build(("gimp",), cache, log=lambda line: None)["gimp"]
    assert (built / ".config" / "GIMP" / "2.10" / "pluginrc").is_file()  # the plug-in query GIMP caches
    modified = built.stat().st_mtime_ns
    assert profiles.build(("gimp",), cache, log=lambda line: None) == {"gimp": built}  # kept, not rebuilt
    assert built.stat().st_mtime_ns == modified and [p.name for p in cache.iterdir()] == [built.name]
    home = tmp_path / "home"
    home.mkdir()
    assert "gimp" in profiles.seed(home, cache)
    assert (home / ".config" / "GIMP" / "2.10" / "pluginrc").read_bytes() == \
        (built / ".config" / "GIMP" / "2.10" / "pluginrc").read_bytes()


def test_build_of_an_unknown_app_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no profile build for emacs; known: gimp"):
        profiles.build(("emacs",), tmp_path)


def test_a_command_that_times_out_reports_its_partial_output_as_text() -> None:
    result = run_command(["sh", "-c", "echo started; exec sleep 5"], False, 1.0)
    assert result["status"] == "error" and result["message"] == "command timed out after 1 s"
    assert result["output"] == "started\n" and json.loads(json.dumps(result)) == result
