"""OSWorld's setup steps that reach past the controller: downloads over HTTP into the host cache (a loopback server
on 127.0.0.1), and Chrome's tabs through the DevTools endpoint of the real Chromium in a local session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_http import serve_files

from step_envs.checkers import GETTERS, CheckContext
from step_envs.desktop.setup import SetupError, SetupRunner
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
    with pytest.raises(SetupError, match="DevTools endpoint on port 9222 did not answer.*remote-debugging-port"):
        SetupRunner(client).run([{"type": "chrome_open_tabs", "parameters": {"urls_to_open": ["http://127.0.0.1/"]}}])
