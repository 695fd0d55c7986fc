"""OSWorld's Chrome getters and metrics on values and files made here: relative dates, URL parts, what a page's
texts become, the profile metrics, the History database a setup step writes, and how the loader takes Chrome tasks.
The same getters against the real Chromium: tests/test_checkers_chrome_desktop.py."""

import datetime as dt
import sqlite3

import pytest

from step_envs.checkers.evaluate import measure
from step_envs.checkers.getters.chrome_pages import html_values
from step_envs.checkers.getters.chrome_tabs import macys_filters, query_values, slash_part
from step_envs.checkers.getters.rules import NAMES, day_of, format_day, written_out
from step_envs.desktop.chrome import chrome_time, history_database
from step_envs.tasks.osworld import CHROME_READY, END_CHROMIUM, check_osworld

WEDNESDAY = dt.date(2024, 8, 14)


@pytest.mark.parametrize("name, day", [
    ("tomorrow", dt.date(2024, 8, 15)),
    ("this month", WEDNESDAY),
    ("next Monday", dt.date(2024, 8, 19)),
    ("5th next month", dt.date(2024, 9, 5)),
    ("11th next month", dt.date(2024, 9, 11)),
    ("this Saturday", dt.date(2024, 8, 17)),
    ("this Sunday", dt.date(2024, 8, 18)),
    ("next Friday", dt.date(2024, 8, 16)),
    ("next Saturday", dt.date(2024, 8, 17)),
    ("next Sunday", dt.date(2024, 8, 18)),
    ("next week Friday", dt.date(2024, 8, 23)),
    ("next week Sunday", dt.date(2024, 8, 25)),
    ("first monday four months later", dt.date(2024, 12, 2)),  # Dec 1st 2024 is a Sunday
    ("first monday eight months later", dt.date(2025, 4, 7)),  # Apr 1st 2025 is a Tuesday
])
def test_relative_day_names_on_a_wednesday(name, day):
    assert day_of(name, WEDNESDAY) == day


def test_weekend_names_move_to_next_week_on_that_day_or_later_and_months_wrap_the_year():
    friday, saturday, sunday = dt.date(2024, 8, 16), dt.date(2024, 8, 17), dt.date(2024, 8, 18)
    assert day_of("next Friday", friday) == dt.date(2024, 8, 23)
    assert day_of("next Saturday", saturday) == dt.date(2024, 8, 24)
    assert day_of("next Saturday", sunday) == dt.date(2024, 8, 24)
    assert day_of("10th next month", dt.date(2024, 12, 20)) == dt.date(2025, 1, 10)


def test_a_to_day_follows_its_from_day():
    monday = day_of("next Monday split", WEDNESDAY)
    assert day_of("next Friday split", WEDNESDAY, after=("next Monday split", monday)) == dt.date(2024, 8, 23)
    saturday = dt.date(2024, 8, 17)
    assert day_of("next Sunday", WEDNESDAY, after=("next Saturday", saturday)) == dt.date(2024, 8, 18)


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="'yesterday' is not defined; known: tomorrow") as error:
        day_of("yesterday", WEDNESDAY)
    assert all(name in str(error.value) for name in NAMES)


def test_placeholders_are_written_out():
    day = dt.date(2024, 9, 5)
    assert format_day("{DoW}, {Month} {Day0D}, {Year}", day) == "Thu, Sep 05, 2024"
    assert format_day("{Year}-{Month0D}-{DayD}", day) == "2024-09-5"
    assert format_day("{month}-weather / {MonthFull} {MonthD}", day) == "september-weather / September 9"


def test_expected_values_get_the_from_and_to_days_or_the_split_fields():
    single = {"relativeTime": {"from": "next Monday"}, "expected": {"fromStation": ["BOM"],
                                                                     "time": ["{Year}-{Month0D}-{Day0D}"]}}
    assert written_out(single, WEDNESDAY)["expected"] == {"fromStation": ["BOM"], "time": ["2024-08-19"]}
    assert single["expected"]["time"] == ["{Year}-{Month0D}-{Day0D}"]  # the task's rules are left as written
    ranged = {"relativeTime": {"from": "10th next month", "to": "11th next month"},
              "expected": {"from": "{DoW}, {Month} {Day0D}", "to": "{DoW}, {Month} {Day0D}"}}
    assert written_out(ranged, WEDNESDAY)["expected"] == {"from": "Tue, Sep 10", "to": "Wed, Sep 11"}
    split = {"relativeTime": {"from": "next Monday split", "to": "next Friday split"}, "expected": {
        "puDay": "{DayD}", "puMonth": "{MonthD}", "puYear": "{Year}", "doDay": "{DayD}", "doMonth": "{MonthD}",
        "doYear": "{Year}"}}
    assert written_out(split, WEDNESDAY)["expected"] == {"puDay": "19", "puMonth": "8", "puYear": "2024",
                                                         "doDay": "23", "doMonth": "8", "doYear": "2024"}
    with pytest.raises(ValueError, match="expected has no 'time'"):
        written_out({"relativeTime": {"from": "tomorrow"}, "expected": {"when": "{DayD}"}}, WEDNESDAY)


def test_query_values_rename_and_split():
    url = "https://www.example.com/s?q=drip+coffee+maker&modelList=a,b&departing=2024-08-19"
    assert query_values(url, {"parse_keys": ["q", "zip"]}) == {"q": "drip coffee maker", "zip": ""}
    assert query_values(url, {"parse_keys": ["departing"], "replace": {"departing": "time"}}) == {"time": "2024-08-19"}
    assert query_values(url, {"parse_keys": ["modelList"], "split_list": True}) == {"modelList": ["a", "b"]}
    with pytest.raises(ValueError, match="renames 'x', which is not one of parse_keys"):
        query_values(url, {"parse_keys": ["q"], "replace": {"x": "y"}})


def test_slash_part_counts_from_either_end():
    url = "https://www.weather.com/gb/manchester/august-weather/329260?id=7"
    assert slash_part(url, {"partIndex": -2, "returnType": "json", "key": "time"}) == {"time": "august-weather"}
    assert slash_part(url, {"partIndex": -1, "needDeleteId": True, "returnType": "string"}) == "329260"
    assert slash_part(url, {"partIndex": 40, "returnType": "string"}) is None
    with pytest.raises(ValueError, match="'returnType' must be 'string' or 'json'"):
        slash_part(url, {"partIndex": 1, "returnType": "xml"})


def test_macys_filters_read_the_names_and_values_path_parts():
    url = ("https://www.macys.com/shop/mens-clothing/mens-casual-shirts/Men_regular_size_t,Price_discount_range,"
           "Sleeve_length/L,50_PERCENT_ off %26 more,Short Sleeve?id=20627")
    keys = ["mens_clothing", "shirts", "Men_regular_size_t", "Price_discount_range", "short_sleeve"]
    assert macys_filters(url, keys) == {"mens_clothing": True, "shirts": True, "Men_regular_size_t": "L",
                                        "Price_discount_range": "50_PERCENT_ off & more", "short_sleeve": True}
    wider = url.replace("50_PERCENT_ off %26 more", "30_PERCENT_ off %26 more|50_PERCENT_ off %26 more")
    assert macys_filters(wider, ["Price_discount_range"])["Price_discount_range"] == "not_50_PERCENT_ off & more"
    assert macys_filters("https://www.macys.com/shop/womens", keys)["mens_clothing"] is None


PAGE = {("texts", ".loc"): ["Boston Logan", "BOS"], ("own_texts", ".sep"): ["SEA", "NYC"],
        ("child_texts", ".card", "h3"): ["TAP pass"], ("texts", ".chip"): ["Black", "On sale", "Refurbished"],
        ("xpath_text", "//h2"): "New York City Hotels", ("xpath_value", "//input"): "James Smith",
        ("texts", ".filter"): ["Women", "Nike"], ("child_inner_texts", ".crumb li.catAllProducts", "span"): ["Toys"],
        ("url", ""): "https://www.example.com/c?S=4&q=spiderman"}


def test_html_values_by_category():
    def query(*question):
        return PAGE[question]

    assert html_values({"category": "class", "class_multiObject": {"loc": {"0": "start", "1": "end", "2": "x"}},
                        "class_multiObject_child": {"sep": {"1": "to"}},
                        "class_multiObject_only_child": {"card": {"0": "content"}},
                        "class_singleObject": {"loc": "first"}}, query) == {
        "start": "Boston Logan", "end": "BOS", "x": "", "to": "NYC", "content": "TAP pass", "first": "Boston Logan"}
    assert html_values({"category": "class", "class_multiObject_search_exist": {
        "chip": ["Black", "$25 - $60", "On sale", "is_other_exist"]}}, query) == {
        "Black": True, "$25 - $60": False, "On sale": True, "is_other_exist": True}
    assert html_values({"category": "xpath", "xpathObject": {"//h2": "city"}}, query) == {"city": "New York City Hotels"}
    assert html_values({"category": "input", "inputObject": {"//input": "name"}}, query) == {"name": "James Smith"}
    with pytest.raises(ValueError, match="'label' is not supported; use one of class, xpath, input, class&url"):
        html_values({"category": "label"}, query)


def test_class_and_url_marks_names_shown_and_keeps_the_first_url_answer():
    def query(*question):
        return PAGE[question]

    config = {"category": "class&url", "class_multiObject": {"filter": ["women", "nike", "jerseys"]},
              "class_multiObject_li": {"crumb": ["Toys", "Kids"]},
              "url_include_expected": ["jerseys"],
              "url_include_expected_multichoice": {"Spider-Man": "Spider-Man", "spiderman": "Spider-Man", "S=4": "Low"}}
    # OSWorld's rule: a URL answer never overrides an earlier one, so "spider-man" stays False after "Spider-Man"
    assert html_values(config, query) == {"women": True, "nike": True, "toys": True, "is_other_exist": False,
                                          "jerseys": False, "spider-man": False, "low": True}


def test_steam_cart_wants_every_item_in_the_html():
    page = {"title": "Cart", "url": "https://store.example.com/cart/", "content": "<div>Dota 2 Soundtrack</div>"}
    assert measure("is_added_to_steam_cart", page, {"items": ["Dota 2 Soundtrack"]}).value == 1.0
    score = measure("is_added_to_steam_cart", page, {"items": ["Dota 2 Soundtrack", "Artbook"]})
    assert score.value == 0.0 and "Artbook" in score.reason


def test_compare_htmls_walks_both_pages_node_by_node(tmp_path):
    def page(name, cell, sdnum="1033;0;0.00"):
        path = tmp_path / name
        path.write_text(f'<!DOCTYPE html><html><body><table class="t  wide"><tr><td sdnum="{sdnum}">{cell}</td>'
                        "</tr></table><!-- made by LibreOffice --></body></html>", encoding="utf-8")
        return str(path)

    gold = page("gold.html", "42.00")
    assert measure("compare_htmls", page("same.html", "42.00"), gold).value == 1.0
    score = measure("compare_htmls", page("other.html", "41.00"), gold)
    assert score.value == 0.0 and "differs" in score.reason
    other_format = page("format.html", "42.00", sdnum="1033;0;#,##0.00")
    assert measure("compare_htmls", other_format, gold).value == 0.0
    assert measure("compare_htmls", other_format, gold, {"ignore_sdnum": True}).value == 1.0


def test_profile_metrics():
    assert measure("check_font_size", {"default_font_size": 16}, {"type": "value", "value": 16}).value == 1.0
    assert measure("check_font_size", {"default_font_size": 16}, {"type": "range", "min": 16, "max": 99}).value == 0.0
    history = [["https://www.youtube.com/watch?v=1", "Video", 1], ["https://www.bbc.co.uk/", "BBC", 2]]
    assert measure("check_history_deleted", history, {"type": "keywords", "keywords": ["youtube"]}).value == 0.0
    assert measure("check_history_deleted", history[1:], {"type": "keywords", "keywords": ["youtube"]}).value == 1.0
    cookies = [[13300000000000000, ".amazon.com", "", "session-id"], [13300000000000000, ".bbc.co.uk", "", "ckns"]]
    assert measure("is_cookie_deleted", cookies, {"type": "domains", "domains": [".amazon.com"]}).value == 0.0
    assert measure("is_cookie_deleted", cookies[1:], {"type": "domains", "domains": [".amazon.com"]}).value == 1.0
    shortcuts = {"chrome-abc-Default.desktop": "[Desktop Entry]\nName=Play Puzzle Game 2048\nExec=chromium\n"}
    assert measure("is_shortcut_on_desktop", shortcuts, {"type": "name", "name": "Play Puzzle Game 2048"}).value == 1.0
    assert measure("is_shortcut_on_desktop", shortcuts, {"type": "name", "name": "Play"}).value == 0.0
    score = measure("is_shortcut_on_desktop", shortcuts, {"type": "url", "url": "https://a.org"})
    assert score.value == 0.0 and "use one of name, description" in score.reason
    installed = ["Zoom for Google Chrome", "Momentum"]
    assert measure("is_expected_installed_extensions", installed, {"expected": ["Momentum"]}).value == 1.0
    assert measure("is_expected_installed_extensions", installed, {"expected": ["zoom"]}).value == 0.0
    assert measure("is_expected_installed_extensions", installed, {"expected": ["zoom"], "match": "substring"}
                   ).value == 1.0


def test_the_history_database_holds_one_visit_per_entry_in_chromes_time_and_one_row_per_url(tmp_path):
    now = 1_700_000_000.0
    path = tmp_path / "History"
    path.write_bytes(history_database([{"url": "https://www.youtube.com/watch?v=1", "title": "Video",
                                        "visit_time_from_now_in_seconds": 3600},
                                       {"url": "https://www.bbc.co.uk/", "title": "BBC",
                                        "visit_time_from_now_in_seconds": 60},
                                       {"url": "https://www.youtube.com/watch?v=1", "title": "Video",
                                        "visit_time_from_now_in_seconds": 1800}], now=now))
    with sqlite3.connect(path) as db:
        urls = list(db.execute("SELECT id, url, title, visit_count, last_visit_time FROM urls ORDER BY id"))
        visits = list(db.execute("SELECT url, visit_time FROM visits ORDER BY id"))
        meta = dict(db.execute("SELECT key, value FROM meta"))
    db.close()
    # a page visited twice is one row with two visits, as Chrome records it (its history page deletes a page's
    # visits through that row)
    assert urls == [(1, "https://www.youtube.com/watch?v=1", "Video", 2, chrome_time(now - 1800)),
                    (2, "https://www.bbc.co.uk/", "BBC", 1, chrome_time(now - 60))]
    assert visits == [(1, chrome_time(now - 3600)), (2, chrome_time(now - 60)), (1, chrome_time(now - 1800))]
    assert meta == {"version": "70", "last_compatible_version": "16"}
    assert chrome_time(0) == 11_644_473_600_000_000  # 1970-01-01 in microseconds since 1601-01-01
    with pytest.raises(ValueError, match="history entry 0 must be"):
        history_database([{"url": "https://a.org"}])


def test_chrome_tasks_load_with_history_steps_and_pkill_chrome_ending_chromium(tmp_path):
    task = {"id": "h", "instruction": "Clear YouTube from the history.", "config": [
        {"type": "update_browse_history", "parameters": {"history": [
            {"url": "https://www.youtube.com/", "title": "YouTube", "visit_time_from_now_in_seconds": 60}]}}],
        "evaluator": {"postconfig": [{"type": "launch", "parameters": {"command": ["pkill", "chrome"]}},
                                     {"type": "launch", "parameters": {"command": ["google-chrome"]}}],
                      "func": "check_history_deleted", "result": {"type": "history", "dest": "history.sqlite"},
                      "expected": {"type": "rule", "rules": {"type": "keywords", "keywords": ["youtube"]}}}}
    loaded = check_osworld(task, tmp_path / "h.json", "chrome")
    assert loaded.supported and loaded.network == [], (loaded.unsupported, loaded.network)
    postconfig = loaded.task.evaluator["postconfig"]
    assert postconfig[0] == {"type": "execute", "parameters": {"command": END_CHROMIUM, "shell": True}}
    assert postconfig[1]["parameters"]["command"] == ["google-chrome"]
    # Chrome's launch waits until the browser has drawn its page: its window shows up blank first
    assert postconfig[1]["ready"] == CHROME_READY


def test_pkill_chrome_run_as_a_shell_command_ends_chromium_too(tmp_path):
    task = {"id": "d", "instruction": "Delete browsing data on close.", "config": [
        {"type": "launch", "parameters": {"command": ["google-chrome", "--remote-debugging-port=1337"]}},
        {"type": "launch", "parameters": {"command": ["socat", "tcp-listen:9222,fork", "tcp:localhost:1337"]}}],
        "evaluator": {"postconfig": [{"type": "execute", "parameters": {"command": "pkill chrome", "shell": "true"}}],
                      "func": "exact_match", "result": {"type": "data_delete_automacally"},
                      "expected": {"type": "rule", "rules": {"expected": "true"}}}}
    loaded = check_osworld(task, tmp_path / "d.json", "chrome")
    assert loaded.supported, loaded.unsupported
    assert loaded.task.evaluator["postconfig"] == [
        {"type": "execute", "parameters": {"command": END_CHROMIUM, "shell": True}}]
    chrome, socat = loaded.task.config
    assert chrome["ready"] == CHROME_READY and socat["ready"] == {}
