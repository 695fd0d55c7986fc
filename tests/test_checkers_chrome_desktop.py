"""OSWorld's Chrome getters against the real Chromium of a local desktop session (started as OSWorld's tasks start
Chrome), on pages a loopback HTTP server (127.0.0.1) serves and profile files written here: live pages through
DevTools, then Preferences, History and Cookies once Chrome has exited the way OSWorld's postconfig ends it."""

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from loopback_http import serve_files
from pypdf import PdfReader

from step_envs.checkers import GETTERS, CheckContext
from step_envs.checkers.evaluate import measure
from step_envs.checkers.getters.devtools import run_in_tab
from step_envs.checkers.getters.rules import written_out
from step_envs.desktop.setup import SetupRunner
from step_envs.tasks.osworld import END_CHROMIUM

pytestmark = pytest.mark.desktop
PREFERENCES = {"enable_do_not_track": True, "safebrowsing": {"enabled": True},
               "profile": {"name": "Thomas", "default_content_setting_values": {"cookies": 4}},
               "webkit": {"webprefs": {"default_font_size": 24}}, "browser": {"theme": {"color_scheme2": 2}},
               "session": {"restore_on_startup": 5}}
HISTORY = [{"url": "https://www.youtube.com/watch?v=1", "title": "Video one", "visit_time_from_now_in_seconds": 3600},
           {"url": "https://www.nytimes.com/", "title": "The Times", "visit_time_from_now_in_seconds": 300}]
SHOP = b"""<!doctype html><title>Shop</title>
<div class="loc">Boston Logan</div><div class="loc">  BOS  </div>
<div class="sep">SEA<span></span>NYC</div>
<div class="card"><h3>TAP pass</h3></div><div class="card"><p>no heading</p></div>
<ul class="crumb"><li class="catAllProducts"><span>Toys</span></li><li class="catAllProducts"><span>Kids</span></li></ul>
<h2 data-automation="geo">New York City Hotels</h2>
<form><input id="name" value=" James Smith "></form>
<a id="next" href="/item.html">first item</a>"""
ITEM = b"<!doctype html><title>Item</title><h1 id='title'>Deep learning</h1><a id='pdf' href='/paper.pdf'>PDF</a>"
CART = b"<!doctype html><title>Cart</title><div class='cart'>The Dota 2 Official Soundtrack</div>"
RECREATION = {  # recreation.gov's parts the getter works through
    "/": b"<input id='hero-search-input'><button class='nav-search-button' onclick=\"location.href='/search?q=' + "
         b"document.getElementById('hero-search-input').value\">Search</button>",
    "/search?q=Diamond": b"<a href='/camp/1' target='_blank'><div class='search-result-highlight--success'>Diamond"
                         b"</div></a>",
    "/camp/1": b"<button class='next-available' onclick=\"document.querySelectorAll('.camp-sortable-column-header')"
               b"[2].textContent = 'Jun 3'\">Next available</button><div class='camp-sortable-column-header'>Site"
               b"</div><div class='camp-sortable-column-header'>Loop</div><div class='camp-sortable-column-header'>"
               b"</div>"}
SHOP_PATH = "/shop/mens-clothing/Men_regular_size_t,Price_discount_range/L,50_PERCENT_%20off%20%26%20more/index.html"
DEEP_TEXT = """(() => { const roots = [document];
  for (let i = 0; i < roots.length; i++) for (const n of roots[i].querySelectorAll('*')) if (n.shadowRoot)
    roots.push(n.shadowRoot);
  return roots.map((r) => r.textContent || '').join(' '); })()"""
COOKIE_TABLE = ("CREATE TABLE cookies(creation_utc INTEGER NOT NULL,host_key TEXT NOT NULL,top_frame_site_key TEXT "
                "NOT NULL,name TEXT NOT NULL,value TEXT NOT NULL,encrypted_value BLOB NOT NULL,path TEXT NOT NULL,"
                "expires_utc INTEGER NOT NULL,is_secure INTEGER NOT NULL,is_httponly INTEGER NOT NULL)")


@pytest.fixture(scope="module")
def chrome(client):
    """Chromium with DevTools forwarded to port 9222, its History set by the setup step and its Preferences
    written before it starts; one tab on the shop page. Yields the pages' base URL."""
    with serve_files() as (base, files, _):
        files[f"{SHOP_PATH}?q=drip+coffee&S=4"] = files[SHOP_PATH] = SHOP
        files["/item.html"], files["/cart.html"] = ITEM, CART
        files.update({f"/recreation{path}": page.replace(b"'/", b"'/recreation/") for path, page in RECREATION.items()})
        client.upload("~/.config/google-chrome/Default/Preferences", json.dumps(PREFERENCES).encode())
        try:
            SetupRunner(client).run([
                {"type": "update_browse_history", "parameters": {"history": HISTORY}},
                {"type": "launch", "parameters": {"command": ["google-chrome", "--remote-debugging-port=1337"]}},
                {"type": "launch", "parameters": {"command": ["socat", "tcp-listen:9222,fork", "tcp:localhost:1337"]},
                 "ready": {}},
                {"type": "chrome_open_tabs", "parameters": {"urls_to_open": [f"{base}{SHOP_PATH}?q=drip+coffee&S=4"]}}])
            yield base
        finally:
            client.execute(END_CHROMIUM, shell=True)
            client.execute(["pkill", "-u", client.execute(["id", "-un"])["output"].strip(), "-x", "socat"])


@pytest.fixture
def ctx(client, tmp_path):
    return CheckContext(client=client, cache_dir=tmp_path / "cache")


def test_html_parse_reads_the_active_tab_by_category(chrome, ctx):
    def parse(**config):
        return GETTERS["active_tab_html_parse"](ctx, {"type": "active_tab_html_parse", **config})

    assert parse(category="class", class_multiObject={"loc": {"0": "start", "1": "end"}},
                 class_multiObject_child={"sep": {"0": "from", "1": "to"}},
                 class_multiObject_only_child={"card": {"0": "content", "1": "none"}}) == {
        "start": "Boston Logan", "end": "BOS", "from": "SEA", "to": "NYC", "content": "TAP pass", "none": ""}
    assert parse(category="xpath", xpathObject={"//h2[@data-automation='geo']": "city", "//h5": "missing"}) == {
        "city": "New York City Hotels", "missing": ""}
    assert parse(category="input", inputObject={"//input[@id='name']": "name"}) == {"name": "James Smith"}
    assert parse(category="class&url", class_multiObject_li={"crumb": ["Toys", "Kids"]},
                 url_include_expected_multichoice={"S=4": "Price Low-High"}) == {
        "toys": True, "kids": True, "is_other_exist": False, "price low-high": True}


def test_url_getters_read_the_active_tab(chrome, ctx):
    assert GETTERS["active_tab_url_parse"](ctx, {"parse_keys": ["q", "S"], "replace": {"S": "sort"}}) == {
        "q": "drip coffee", "sort": "4"}
    assert GETTERS["url_dashPart"](ctx, {"partIndex": 3, "returnType": "json", "key": "part"}) == {"part": "shop"}
    assert GETTERS["url_path_parse"](ctx, {"parse_keys": ["mens_clothing", "Men_regular_size_t",
                                                          "Price_discount_range"]}) == {
        "mens_clothing": True, "shirts": None, "short_sleeve": None, "Men_regular_size_t": "L",
        "Price_discount_range": "50_PERCENT_ off & more"}


def test_pages_opened_for_a_check_are_read_then_closed_and_the_agents_tab_stays_active(chrome, ctx):
    before = GETTERS["open_tabs_info"](ctx, {})
    cart = GETTERS["page_info"](ctx, {"url": f"{chrome}/cart.html"})
    assert cart["title"] == "Cart" and cart["url"] == f"{chrome}/cart.html"
    assert measure("is_added_to_steam_cart", cart, {"items": ["The Dota 2 Official Soundtrack"]}).value == 1.0
    pdf = GETTERS["pdf_from_url"](ctx, {"path": f"{chrome}/item.html", "dest": "item_gold.pdf"})
    page = PdfReader(pdf).pages[0]
    assert "Deep learning" in page.extract_text() and (page.mediabox.width, page.mediabox.height) == (612, 792)
    assert GETTERS["open_tabs_info"](ctx, {}) == before
    assert GETTERS["active_tab_info"](ctx, {}) == before[0]


def test_info_from_website_reads_after_clicks_and_falls_back_to_the_backups(chrome, ctx):
    infos = [{"action": "inner_text", "selector": ".loc"},
             {"action": "click_and_attribute", "selector": ["#next", "#pdf"], "attribute": "href"},
             {"action": "click_and_inner_text", "selector": ["#next", "#title"]}]
    config = {"url": f"{chrome}{SHOP_PATH}", "infos": infos, "backups": ["a", "b", "c"]}
    assert GETTERS["info_from_website"](ctx, config) == ["Boston Logan", "/paper.pdf", "Deep learning"]
    missing = [{"action": "inner_text", "selector": "#gone"}]
    assert GETTERS["info_from_website"](ctx, {**config, "infos": missing}) == ["a", "b", "c"]


def test_the_recreation_getter_searches_opens_the_result_and_reads_after_next_available(chrome, ctx):
    config = {"selector": "class", "class": "camp-sortable-column-header", "order": "2", "url": f"{chrome}/recreation/"}
    expected = GETTERS["gotoRecreationPage_and_get_html_content"](ctx, config)
    assert expected == {"expected": {"camp-sortable-column-header": "Jun 3"}}


def test_appearance_mode_is_read_from_the_settings_page(chrome, ctx):
    assert GETTERS["chrome_appearance_mode_ui"](ctx, {}) == "dark"


def test_chromium_shows_the_history_the_setup_step_wrote(chrome, ctx):
    text = run_in_tab(ctx, {"open": "chrome://history"}, [["load", 10], ["sleep", 1], ["eval", DEEP_TEXT]])[0]
    assert "Video one" in text and "The Times" in text


def test_relative_dates_are_written_out_for_the_envs_date(chrome, ctx):
    rules = {"relativeTime": {"from": "tomorrow"}, "expected": {"time": "{Year}-{Month0D}-{Day0D}"}}
    today = dt.date.fromisoformat(ctx.client.execute(["date", "+%F"])["output"].strip())
    assert GETTERS["rule_relativeTime"](ctx, {"rules": rules}) == written_out(rules, today)


def cookies_database(path: Path, hosts: list[str]) -> bytes:
    with sqlite3.connect(path) as db:
        db.execute(COOKIE_TABLE)
        db.executemany("INSERT INTO cookies VALUES (1, ?, '', 'sid', '1', x'', '/', 0, 0, 0)", [(h,) for h in hosts])
    db.close()
    return path.read_bytes()


def test_profile_files_are_read_after_chrome_exits_as_osworlds_postconfig_ends_it(chrome, client, ctx, tmp_path):
    SetupRunner(client).run([{"type": "execute", "parameters": {"command": END_CHROMIUM, "shell": True}}])
    assert GETTERS["open_tabs_info"](ctx, {}) is None
    expected = {"enable_do_not_track": "true", "enable_safe_browsing": "true", "new_startup_page": "true",
                "profile_name": "Thomas", "data_delete_automacally": "true", "default_search_engine": "Google",
                "chrome_appearance_mode_ui": "dark"}
    assert {name: GETTERS[name](ctx, {}) for name in expected} == expected
    assert GETTERS["chrome_font_size"](ctx, {})["default_font_size"] == 24
    assert "Chromium PDF Viewer" in GETTERS["find_installed_extension_name"](ctx, {})
    history = GETTERS["history"](ctx, {"dest": "history.sqlite"})
    visited = {tuple(row[:2]) for row in history}  # ours, and the pages this module opened: Chromium kept the file
    assert {("https://www.nytimes.com/", "The Times"), ("https://www.youtube.com/watch?v=1", "Video one"),
            (f"{chrome}/cart.html", "Cart")} <= visited
    assert measure("check_history_deleted", history, {"type": "keywords", "keywords": ["youtube"]}).value == 0.0
    client.upload("~/.config/google-chrome/Default/Cookies", cookies_database(tmp_path / "Cookies", [
        ".amazon.com", ".bbc.co.uk"]))
    cookies = GETTERS["cookie_data"](ctx, {"dest": "Cookies"})
    assert [row[1] for row in cookies] == [".amazon.com", ".bbc.co.uk"]
    assert measure("is_cookie_deleted", cookies, {"type": "domains", "domains": [".amazon.com"]}).value == 0.0
    client.upload("~/Desktop/chrome-2048-Default.desktop", b"[Desktop Entry]\nName=Play Puzzle Game 2048\n")
    shortcuts = GETTERS["shortcuts_on_desktop"](ctx, {})
    assert measure("is_shortcut_on_desktop", shortcuts, {"type": "name", "name": "Play Puzzle Game 2048"}).value == 1.0
