"""Getters of Chrome's tabs (Chromium stands in for it here) and their URLs, with OSWorld's names
(``getters/chrome.py``): the open tabs and the active one (DevTools' HTTP endpoint in the env), the address bar's URL
(the accessibility tree), and parts of that URL (its query, a ``/`` part, Macy's filter path).

The URL getters take the URL as ``active_url_from_accessTree`` gives it (the address bar's text after
``goto_prefix``) and answer None when there is none.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from step_envs.checkers.getters.access import check_tree, env_python
from step_envs.checkers.metrics.os_state import A11Y_NAMESPACES
from step_envs.checkers.registry import CheckContext, getter, short
from step_envs.server import app_ports
from step_envs.server.client import A11yError


def _tabs(ctx: CheckContext) -> list[dict[str, Any]] | None:
    """Chrome's page targets from the DevTools HTTP endpoint in the env, most recently active first."""
    script = (f"import urllib.request\n{app_ports.DEVTOOLS_IN_SESSION}\n"
              "print(urllib.request.urlopen(f'http://127.0.0.1:{port}/json', timeout=10).read().decode())")
    output = env_python(ctx, script)
    if not output:
        return None
    return [target for target in json.loads(output) if target.get("type") == "page"]


@getter("open_tabs_info")
def open_tabs_info(ctx: CheckContext, config: dict[str, Any]) -> list[dict[str, str]] | None:
    """``[{"title", "url"}]`` of Chrome's open tabs (DevTools on port 9222 in the env, or the session's own); None
    when Chrome is not reachable there."""
    tabs = _tabs(ctx)
    return None if tabs is None else [{"title": tab.get("title", ""), "url": tab.get("url", "")} for tab in tabs]


@getter("active_tab_info")
def active_tab_info(ctx: CheckContext, config: dict[str, Any]) -> dict[str, str] | None:
    """``{"title", "url"}`` of Chrome's most recently active tab (DevTools lists it first); None without a tab."""
    tabs = _tabs(ctx)
    if not tabs:
        return None
    return {"title": tabs[0].get("title", ""), "url": tabs[0].get("url", "")}


_ADDRESS_BAR = ('application[name="Google Chrome"] entry[name="Address and search bar"], '
                'application[name="Chromium"] entry[name="Address and search bar"]')


@getter("active_url_from_accessTree")
def active_url_from_access_tree(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The text of Chrome's (or Chromium's) address bar, read from the accessibility tree (the last such bar), with
    ``goto_prefix`` (default ``https://``) put before it. When the tree shows no address bar with text (a session
    without accessibility), the URL of the most recently active tab from DevTools, which is whole already; None
    when neither has one."""
    import lxml.etree
    from lxml.cssselect import CSSSelector

    try:
        tree = lxml.etree.fromstring(check_tree(ctx).encode())
        elements = CSSSelector(_ADDRESS_BAR, namespaces=A11Y_NAMESPACES)(tree)
    except A11yError:
        elements = []
    if elements and elements[-1].text:
        return f"{config.get('goto_prefix', 'https://')}{elements[-1].text}"
    active = active_tab_info(ctx, config)
    return active["url"] if active and active["url"] else None


FIFTY_OFF = "50_PERCENT_ off & more"
"""Macy's discount filter that ``url_path_parse`` looks for in ``Price_discount_range``."""


def query_values(url: str, config: dict[str, Any]) -> dict[str, Any]:
    """The first value of each query parameter of ``config["parse_keys"]`` (``""`` when absent); ``replace``
    (``{old key: new key}``) renames keys, ``split_list`` splits every value at commas."""
    keys = config.get("parse_keys")
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise ValueError(f"getter config 'parse_keys' must be a list of query parameter names, got {short(keys)}")
    query = parse_qs(urlparse(url).query)
    values: dict[str, Any] = {key: query.get(key, [""])[0] for key in keys}
    for old, new in config.get("replace", {}).items():
        if old not in values:
            raise ValueError(f"'replace' renames {old!r}, which is not one of parse_keys {keys}")
        values[new] = values.pop(old)
    if config.get("split_list", False):
        values = {key: value.split(",") for key, value in values.items()}
    return values


def slash_part(url: str, config: dict[str, Any]) -> str | dict[str, str] | None:
    """The ``partIndex``-th piece of ``url`` split at ``/`` (negative counts from the end), without its query with
    ``needDeleteId``; as is (``returnType: string``) or as ``{config["key"]: piece}`` (``returnType: json``); None
    when the URL has no such piece."""
    index, kind = config.get("partIndex"), config.get("returnType")
    if not isinstance(index, int) or isinstance(index, bool):
        raise ValueError(f"getter config 'partIndex' must be an integer, got {short(index)}")
    if kind not in ("string", "json"):
        raise ValueError(f"getter config 'returnType' must be 'string' or 'json', got {short(kind)}")
    parts = url.split("/")
    if not -len(parts) <= index < len(parts):
        return None
    part = parts[index].split("?")[0] if config.get("needDeleteId", False) else parts[index]
    return part if kind == "string" else {config["key"]: part}


def macys_filters(url: str, parse_keys: list[str]) -> dict[str, Any]:
    """What OSWorld's ``url_path_parse`` reads from a Macy's listing URL, whose path holds filter names then their
    values as two comma-separated parts (``.../Men_regular_size_t,Price_discount_range/L,50_PERCENT_ off & more``):

    ``mens_clothing``, ``shirts`` and ``short_sleeve`` are True when the path (or the filters) say so, else None;
    each of ``parse_keys`` among the filters gets its value (None when empty), ``Price_discount_range`` as
    :data:`FIFTY_OFF` when that is its only discount of 50/30/20 % kinds, else ``not_`` before it."""
    path = unquote(urlparse(url).path)
    parts = path.strip("/").split("/")
    filters: dict[str, Any] = {"Men_regular_size_t": None, "Price_discount_range": None}
    shirts, short_sleeve = "shirts" in path, "short-sleeve" in path
    for names, values in zip(parts, parts[1:], strict=False):
        if "," in names and "," in values:
            for name, value in zip((n.strip() for n in names.split(",")), (v.strip() for v in values.split(",")),
                                   strict=False):
                filters[name] = ([v.strip() for v in value.split("|")] if name == "Price_discount_range" else value
                                 ) if value else None
                shirts = shirts or (name == "Product_department" and value in ("shirts", "Shirts", "Shirt"))
                short_sleeve = short_sleeve or (name == "Sleeve_length" and value in ("short-sleeve", "Short Sleeve"))
            break
    result: dict[str, Any] = {"mens_clothing": True if "mens-clothing" in path else None,
                              "shirts": True if shirts else None, "short_sleeve": True if short_sleeve else None}
    for key in parse_keys:
        if key == "Price_discount_range":
            discounts = filters[key] or []
            only_fifty = FIFTY_OFF in discounts and not {"30_PERCENT_ off & more", "20_PERCENT_ off & more"} & set(
                discounts)
            result[key] = FIFTY_OFF if only_fifty else f"not_{FIFTY_OFF}"
        elif key in filters:
            result[key] = filters[key]
    return result


@getter("active_tab_url_parse")
def active_tab_url_parse(ctx: CheckContext, config: dict[str, Any]) -> dict[str, Any] | None:
    """Query parameters of the active tab's URL (:func:`query_values`)."""
    url = active_url_from_access_tree(ctx, config)
    return None if url is None else query_values(url, config)


@getter("url_dashPart")
def url_dash_part(ctx: CheckContext, config: dict[str, Any]) -> str | dict[str, str] | None:
    """A ``/``-separated piece of the active tab's URL (:func:`slash_part`)."""
    url = active_url_from_access_tree(ctx, config)
    return None if url is None else slash_part(url, config)


@getter("url_path_parse")
def url_path_parse(ctx: CheckContext, config: dict[str, Any]) -> dict[str, Any] | None:
    """Macy's listing filters in the active tab's URL (:func:`macys_filters` of ``parse_keys``)."""
    keys = config.get("parse_keys")
    if not isinstance(keys, list):
        raise ValueError(f"getter config 'parse_keys' must be a list of names, got {short(keys)}")
    url = active_url_from_access_tree(ctx, config)
    return None if url is None else macys_filters(url, keys)
