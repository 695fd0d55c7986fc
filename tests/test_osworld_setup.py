"""OSWorld's setup steps that reach past the controller: downloads over HTTP into the host cache (a loopback server
on 127.0.0.1), and Chrome's tabs through the DevTools endpoint of the real Chromium in a local session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_http import serve_files

from step_envs.checkers import GETTERS, CheckContext
from step_envs.desktop.setup import SetupError, SetupRunner, window_names
from step_envs.providers.local import LocalProvider
from step_envs.server.client import ControllerClient
from step_envs.server.fetch import DownloadError, cached_download


@pytest.fixture()
def web(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes], list[str]]]:
    """A loopback HTTP server: ``files[path] = bytes`` serves them (else 404); ``hits`` lists requested paths.
    The OSWorld cache goes to a fresh folder."""
    monkeypatch.setenv("STEP_ENVS_CACHE_DIR", str(tmp_path / "cache"))
    with serve_files() as served:
        yield served


def test_a_download_is_fetched_once_into_the_cache_as_a_whole_file(web, tmp_path: Path) -> None:
    base, files, hits = web
    files["/data/book.xlsx"] = payload = bytes(range(256)) * 1024
    first = cached_download(f"{base}/data/book.xlsx", "~/Desktop/book.xlsx")
    assert first.parent == tmp_path / "cache" / "osworld" and first.name.endswith("_book.xlsx")
    assert first.read_bytes() == payload and [p.name for p in first.parent.iterdir()] == [first.name]
    assert cached_download(f"{base}/data/book.xlsx", "~/Desktop/book.xlsx") == first
    assert hits == ["/data/book.xlsx"]


def test_a_missing_download_names_the_url_and_leaves_no_partial_file(web, tmp_path: Path) -> None:
    base, _, hits = web
    with pytest.raises(DownloadError, match=f"could not download {base}/gone.bin \\(3 tries\\)"):
        cached_download(f"{base}/gone.bin", "gone.bin")
    assert len(hits) == 3 and list((tmp_path / "cache" / "osworld").iterdir()) == []


@pytest.fixture(scope="module")
def client() -> Iterator[ControllerClient]:
    provider = LocalProvider()
    try:
        controller = ControllerClient(provider.start())
        yield controller
        controller.close()
    finally:
        provider.stop()


@pytest.mark.desktop
def test_download_steps_fetch_over_http_and_a_missing_file_is_a_setup_error(client: ControllerClient, web) -> None:
    base, files, _ = web
    files["/task/notes.txt"] = b"from the web\n"
    runner = SetupRunner(client)
    runner.run([{"type": "download", "parameters": {"files": [
        {"url": f"{base}/task/notes.txt", "path": "~/notes.txt"}]}},
        {"type": "proxy", "parameters": {}}])
    assert client.get_file("~/notes.txt") == b"from the web\n"
    with pytest.raises(SetupError, match=f"setup step 0 \\(download\\).*{base}/task/none.txt"):
        runner.run([{"type": "download", "parameters": {"files": [{"url": f"{base}/task/none.txt",
                                                                   "path": "~/none.txt"}]}}])


def _tab_urls(ctx: CheckContext) -> list[str]:
    return sorted(tab["url"] for tab in GETTERS["open_tabs_info"](ctx, {}) or [])


@pytest.mark.desktop
def test_chrome_tab_steps_open_and_close_tabs_through_devtools(client: ControllerClient, web,
                                                               tmp_path: Path) -> None:
    base, files, _ = web
    files["/a.html"] = b"<title>Page A</title>A"
    files["/b.html"] = b"<title>Page B</title>B"
    runner = SetupRunner(client)
    try:
        runner.run([  # OSWorld's chrome tasks start exactly so
            {"type": "launch", "parameters": {"command": ["google-chrome", "--remote-debugging-port=1337"]}},
            {"type": "launch", "parameters": {"command": ["socat", "tcp-listen:9222,fork", "tcp:localhost:1337"]},
             "ready": {}},
            {"type": "chrome_open_tabs", "parameters": {"urls_to_open": [f"{base}/a.html", f"{base}/b.html"]}}])
        ctx = CheckContext(client=client, cache_dir=tmp_path / "check")
        assert _tab_urls(ctx) == [f"{base}/a.html", f"{base}/b.html"]  # the start tab is closed
        runner.run([{"type": "chrome_close_tabs", "parameters": {"urls_to_close": [f"{base}/a.html"]}}])
        deadline = time.monotonic() + 10
        while _tab_urls(ctx) != [f"{base}/b.html"]:
            assert time.monotonic() < deadline, _tab_urls(ctx)
            time.sleep(0.2)
    finally:
        client.execute(["pkill", "-u", client.execute(["id", "-un"])["output"].strip(), "-x", "socat"])
        client.window_action("close", "Chromium", by_class=True)


@pytest.mark.desktop
def test_tab_steps_without_chrome_say_how_to_start_it(client: ControllerClient, monkeypatch) -> None:
    monkeypatch.setattr("step_envs.desktop.chrome.DEVTOOLS_WAIT_S", 1.0)
    with pytest.raises(SetupError, match="DevTools endpoint on port 9222 .*did not answer.*remote-debugging-port"):
        SetupRunner(client).run([{"type": "chrome_open_tabs", "parameters": {"urls_to_open": ["http://127.0.0.1/"]}}])


class _Windows:
    """A controller with one window, titled ``title``, for the window steps."""

    def __init__(self, title: str) -> None:
        self.title, self.asked = title, []

    def window_action(self, action: str, name: str, strict: bool = False, by_class: bool = False) -> bool:
        self.asked.append(name)
        return name == self.title if strict else name.lower() in self.title.lower()


def test_window_steps_find_a_stand_ins_window_under_the_name_osworld_uses() -> None:
    assert window_names("Google Chrome") == ["Google Chrome", "Chromium"]
    assert window_names("test.py - Visual Studio Code") == [
        "test.py - Visual Studio Code", "test.py - VSCodium", "test.py - Code - OSS"]
    assert window_names("Google Chrome", by_class=True) == ["Google Chrome"]  # a WM_CLASS is not a title
    assert window_names("Terminal") == ["Terminal"]
    chromium = _Windows("New Tab - Chromium")
    SetupRunner(chromium).run([  # 28 of OSWorld's tasks have this step
        {"type": "activate_window", "parameters": {"window_name": "Google Chrome"}},
        {"type": "close_window", "parameters": {"window_name": "New Tab - Google Chrome", "strict": True}}])
    assert chromium.asked == ["Google Chrome", "Chromium", "New Tab - Google Chrome", "New Tab - Chromium"]
    with pytest.raises(SetupError, match="no window 'Google Chrome' to close"):
        SetupRunner(_Windows("Terminal - user@vm: ~")).run([
            {"type": "close_window", "parameters": {"window_name": "Google Chrome"}}])


@pytest.mark.desktop
def test_osworlds_google_chrome_steps_find_chromiums_window(client: ControllerClient) -> None:
    runner = SetupRunner(client)
    try:
        runner.run([{"type": "launch", "parameters": {"command": ["google-chrome"]},
                     "ready": {"window": "Chromium", "timeout": 60}},
                    {"type": "activate_window", "parameters": {"window_name": "Google Chrome"}}])
        [window] = [w for w in client.windows() if "chromium" in w["wm_class"].lower()]
        # a plain WM_CLASS (with --user-data-dir Chromium makes it "chromium (<folder>)", which wmctrl's listing
        # cannot split from the title)
        assert window["wm_class"] == "chromium.Chromium" and window["title"].endswith(" - Chromium"), window
        profile = client.execute(["bash", "-c", "readlink ~/.config/chromium; ls ~/.config/google-chrome"])
        assert profile["output"].startswith(client.execute(["bash", "-c", "echo ~"])["output"].strip() +
                                            "/.config/google-chrome\n"), profile
        runner.run([{"type": "close_window", "parameters": {"window_name": "Google Chrome"}}])
    finally:
        client.window_action("close", "Chromium", by_class=True)


class _Commands:
    """A controller whose commands print ``output`` and ``error``, for the execute steps."""

    class endpoint:  # noqa: N801 - the placeholders read the screen's size from it
        width, height = 1920, 1080

    def __init__(self, output: str, error: str = "", status: str = "success") -> None:
        self.result = {"status": status, "output": output, "error": error, "returncode": 0}

    def execute(self, command, shell: bool = False, timeout: float = 120) -> dict:
        return dict(self.result)


def test_a_postconfigs_execute_captures_go_to_the_checkers_cache_folder(tmp_path: Path) -> None:
    """As OSWorld's SetupController writes them: a postconfig's ``stdout`` / ``stderr`` files are what its
    ``cache_file`` getters read (multi_apps f8369178's gsettings.out, e1fc0df3's grep.out)."""
    step = {"type": "execute", "parameters": {"command": ["gsettings", "get", "org.gnome.desktop.interface",
                                                          "gtk-theme"], "stdout": "gsettings.out",
                                              "stderr": "gsettings.err"}}
    SetupRunner(_Commands("'Orchis'\n", "warning\n"), cache_dir=tmp_path).run([step])
    assert (tmp_path / "gsettings.out").read_text() == "'Orchis'\n"
    assert (tmp_path / "gsettings.err").read_text() == "warning\n"
    ctx = CheckContext(client=None, cache_dir=tmp_path)  # type: ignore[arg-type]
    assert GETTERS["cache_file"](ctx, {"path": "gsettings.out"}) == str(tmp_path / "gsettings.out")
    with pytest.raises(SetupError, match="could not run"):  # an old capture never passes for a new one
        SetupRunner(_Commands("", status="error"), cache_dir=tmp_path).run([step])
    assert not (tmp_path / "gsettings.out").exists()
    with pytest.raises(SetupError, match="leaves the cache folder"):
        SetupRunner(_Commands("x"), cache_dir=tmp_path).run([{"type": "command", "parameters": {
            "command": ["true"], "stdout": "../out"}}])
    SetupRunner(_Commands("x")).run([step])  # a task's setup: no cache folder, nothing written
