"""The checker registry and evaluate(): names checked at load time, scores combined by conj, every zero explained."""

import socket
import time
from pathlib import Path

import pytest
from loopback_http import serve_files

from step_envs.checkers import (
    GETTERS,
    METRICS,
    CheckContext,
    Score,
    UnknownCheckerError,
    evaluate,
    getter,
    validate_evaluator,
)
from step_envs.providers.base import Endpoint, ProviderError
from step_envs.server.client import ControllerClient


@pytest.fixture
def ctx(tmp_path):
    """A context whose controller refuses connections: host-side getters work, env getters raise ProviderError."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
        client = ControllerClient(Endpoint(f"http://127.0.0.1:{unused.getsockname()[1]}", None, 1, 1), timeout=5)
        yield CheckContext(client=client, cache_dir=tmp_path / "cache")
        client.close()


def local(path) -> dict:
    return {"type": "local_file", "path": str(path)}


def rule(expected) -> dict:
    return {"type": "rule", "rules": {"expected": expected}}


def literal(value) -> dict:
    return {"type": "rule", "rules": value}


# --- registry ------------------------------------------------------------------------------------------------


def test_the_registry_holds_osworld_getters_and_metrics_by_name():
    assert {"vm_file", "vm_command_line", "vm_command_error", "rule", "list_directory", "accessibility_tree",
            "vm_screen_size", "cloud_file", "cache_file", "local_file"} <= set(GETTERS)
    assert {"exact_match", "compare_table", "compare_docx_files", "check_csv", "compare_text_file"} <= set(METRICS)


def test_getters_live_in_getters_and_metrics_in_metrics_which_import_nothing_of_getters():
    """The package's map (its docstring) holds: a getter is found under getters/, a metric under metrics/, and a
    metric sees only what getters hand it."""
    assert {f.__module__.rsplit(".", 1)[0] for f in GETTERS.values()} == {"step_envs.checkers.getters"}
    assert {f.__module__.rsplit(".", 1)[0] for f in METRICS.values()} == {"step_envs.checkers.metrics"}
    metrics = Path(__file__).resolve().parent.parent / "step_envs" / "checkers" / "metrics"
    assert [path.name for path in metrics.glob("*.py") if "checkers.getters" in path.read_text()] == []


def test_the_accessibility_tree_getter_walks_the_whole_tree_within_the_evaluations_budget(tmp_path):
    """A check's tree may take longer than an observation's (10 s): LibreOffice's menus alone can take that on a
    loaded machine, and a tree cut short there misses its panes (OSWorld's walk has no limit)."""
    from step_envs.checkers.getters.access import A11Y_CHECK_TIMEOUT_S

    class Client:
        def accessibility_tree(self, **options):
            self.options = options
            return "<desktop-frame/>"

    client = Client()
    assert GETTERS["accessibility_tree"](CheckContext(client, tmp_path), {}) == "<desktop-frame/>"
    assert client.options["timeout"] == A11Y_CHECK_TIMEOUT_S > 10
    GETTERS["accessibility_tree"](CheckContext(client, tmp_path, deadline=time.monotonic() + 5), {})
    assert 0 < client.options["timeout"] <= 5


def test_unknown_getter_fails_at_validate_time_listing_the_known_names():
    with pytest.raises(UnknownCheckerError) as error:
        validate_evaluator({"func": "exact_match", "result": {"type": "vm_foo"}, "expected": rule("x")})
    assert str(error.value).startswith("unknown getter 'vm_foo'; known: accessibility_tree, ")
    assert ", cache_file, " in str(error.value) and ", cloud_file, " in str(error.value)
    assert isinstance(error.value, ValueError)


def test_unknown_metric_fails_at_validate_time_listing_the_known_names():
    with pytest.raises(UnknownCheckerError, match=r"unknown metric 'compare_pdf'; known: check_.*, check_csv, .*exact_match"):
        validate_evaluator({"func": ["exact_match", "compare_pdf"], "result": [literal(1), literal(2)]})


def test_unknown_expected_getter_in_a_list_fails_at_validate_time():
    evaluator = {"func": ["exact_match", "exact_match"], "result": [literal(1), literal(2)],
                 "expected": [rule(1), {"type": "cloud_fiel", "path": "x"}]}
    with pytest.raises(UnknownCheckerError, match="unknown getter 'cloud_fiel'"):
        validate_evaluator(evaluator)


def test_validate_accepts_osworld_shapes_null_entries_and_infeasible():
    validate_evaluator({"func": "infeasible"})
    validate_evaluator({"func": ["check_file_exists", "exact_match"], "conj": "or",
                        "result": [local("/x"), literal("a")], "expected": [None, rule("a")], "options": [None, {}]})


@pytest.mark.parametrize("evaluator, message", [
    ({"func": ["exact_match", "exact_match"], "result": [literal(1)]}, "must be a list of 2 entries"),
    ({"func": "exact_match", "result": {"path": "x"}}, "needs a result getter config"),
    ({"func": "exact_match", "result": literal(1), "conj": "xor"}, "'conj' is 'xor'"),
    ({"func": "exact_match"}, "needs a result getter config"),
])
def test_validate_rejects_malformed_evaluators_saying_what_is_wrong(evaluator, message):
    with pytest.raises(ValueError, match=message):
        validate_evaluator(evaluator)


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="getter 'rule' is registered twice"):
        getter("rule")(lambda ctx, config: None)


# --- evaluate ------------------------------------------------------------------------------------------------


def test_evaluate_scores_one_when_the_metric_passes(ctx):
    assert evaluate({"func": "exact_match", "result": literal("foo"), "expected": rule("foo")}, ctx) == Score(
        1.0, "exact_match: 'foo' == 'foo'")


def test_evaluate_explains_a_mismatch_with_the_metric_name(ctx):
    assert evaluate({"func": "exact_match", "result": literal("foo"), "expected": rule("bar")}, ctx) == Score(
        0.0, "exact_match: 'foo' != 'bar'")


def test_evaluate_reports_a_missing_result_file_by_its_path(ctx, tmp_path):
    (tmp_path / "gold.txt").write_text("x")
    evaluator = {"func": "compare_text_file", "result": local(tmp_path / "out.txt"), "expected": local(
        tmp_path / "gold.txt")}
    assert evaluate(evaluator, ctx) == Score(0.0, f"compare_text_file: {tmp_path / 'out.txt'} missing")


def test_evaluate_reports_a_missing_expected_file(ctx, tmp_path):
    (tmp_path / "out.txt").write_text("x")
    evaluator = {"func": "compare_text_file", "result": local(tmp_path / "out.txt"), "expected": local(
        tmp_path / "gold.txt")}
    assert evaluate(evaluator, ctx).reason == f"compare_text_file: expected {tmp_path / 'gold.txt'} missing"


def test_and_stops_at_the_first_zero(ctx):
    # the second check would reach the refusing controller and raise ProviderError if it ran
    evaluator = {"func": ["exact_match", "exact_match"], "conj": "and",
                 "result": [literal("a"), {"type": "vm_command_line", "command": "true"}],
                 "expected": [rule("b"), rule("")]}
    assert evaluate(evaluator, ctx) == Score(0.0, "exact_match: 'a' != 'b'")


def test_and_gives_the_mean_when_no_metric_scores_zero(ctx):
    evaluator = {"func": ["exact_match", "fuzzy_match"],
                 "result": [literal("a"), literal("kitten")], "expected": [rule("a"), rule("sitting")]}
    score = evaluate(evaluator, ctx)
    assert score.value == pytest.approx((1.0 + 8 / 13) / 2)
    assert score.reason == "exact_match: 'a' == 'a'; fuzzy_match: 'kitten' ~ 'sitting'"


def test_or_stops_at_the_first_one_and_otherwise_gives_the_max(ctx):
    first = {"func": ["exact_match", "exact_match"], "conj": "or",
             "result": [literal("a"), {"type": "vm_command_line", "command": "true"}], "expected": [rule("a"), rule("")]}
    assert evaluate(first, ctx).value == 1.0
    none = {"func": ["exact_match", "fuzzy_match"], "conj": "or",
            "result": [literal("a"), literal("kitten")], "expected": [rule("b"), rule("sitting")]}
    assert evaluate(none, ctx).value == pytest.approx(8 / 13)


def test_a_metric_that_raises_scores_zero_with_the_error(ctx, tmp_path):
    (tmp_path / "notes.txt").write_text("not a workbook")
    score = evaluate({"func": "compare_table", "result": local(tmp_path / "notes.txt"),
                      "expected": local(tmp_path / "notes.txt")}, ctx)
    assert score == Score(0.0, "compare_table: ValueError: notes.txt: spreadsheets are read from .xlsx, .xlsm, .ods, "
                               ".xls or .csv")


def test_a_getter_that_raises_scores_zero_naming_the_getter(ctx):
    score = evaluate({"func": "exact_match", "result": {"type": "rule"}, "expected": rule("x")}, ctx)
    assert score == Score(0.0, "exact_match: result getter 'rule' failed: KeyError: 'rules'")


def test_an_unknown_name_at_evaluate_time_scores_zero_instead_of_raising(ctx):
    score = evaluate({"func": "exact_matsch", "result": literal(1)}, ctx)
    assert score.value == 0.0 and score.reason.startswith("invalid evaluator: unknown metric 'exact_matsch'; known:")


def test_environment_failures_propagate_instead_of_scoring(ctx):
    with pytest.raises(ProviderError, match="did not answer /file"):
        evaluate({"func": "check_file_exists", "result": {"type": "vm_file", "path": "~/a.txt", "dest": "a.txt"}}, ctx)


def test_an_agent_that_answered_fail_scores_zero_on_a_feasible_task(ctx):
    ctx.last_action = "FAIL"
    assert evaluate({"func": "exact_match", "result": literal("a"), "expected": rule("a")}, ctx) == Score(
        0.0, "the agent answered FAIL on a feasible task")


def test_infeasible_tasks_are_left_to_the_env(ctx):
    with pytest.raises(ValueError, match="scored by the env"):
        evaluate({"func": "infeasible"}, ctx)


def test_cloud_file_copies_local_task_data_and_downloads_urls_once_into_the_cache(ctx, tmp_path, monkeypatch):
    (tmp_path / "gold.txt").write_text("gold")
    fetched = GETTERS["cloud_file"](ctx, {"path": (tmp_path / "gold.txt").as_uri(), "dest": "g.txt"})
    assert fetched == str((ctx.cache_dir / "g.txt").resolve()) and (ctx.cache_dir / "g.txt").read_text() == "gold"
    monkeypatch.setenv("STEP_ENVS_CACHE_DIR", str(tmp_path / "downloads"))
    with serve_files() as (url, files, hits):
        files["/gold.txt"] = b"remote gold"
        for _ in range(2):
            fetched = GETTERS["cloud_file"](ctx, {"path": f"{url}/gold.txt", "dest": "r.txt"})
            assert (ctx.cache_dir / "r.txt").read_bytes() == b"remote gold" and fetched.endswith("r.txt")
        assert hits == ["/gold.txt"]  # the second check reads the download cache
        # a reference the checker cannot fetch is the environment's failure (the env's env_error), not a 0
        with pytest.raises(ProviderError, match=f"could not fetch its reference file.*{url}/missing.txt"):
            GETTERS["cloud_file"](ctx, {"path": f"{url}/missing.txt", "dest": "m.txt"})
        with pytest.raises(ProviderError, match=f"{url}/missing.txt"):
            evaluate({"func": "exact_match", "result": {"type": "cloud_file", "path": f"{url}/missing.txt",
                                                        "dest": "m.txt"}, "expected": {"type": "rule",
                                                                                       "rules": {"expected": "x"}}},
                     ctx)


def test_file_getters_refuse_a_dest_outside_the_cache(ctx, tmp_path):
    (tmp_path / "gold.txt").write_text("gold")
    with pytest.raises(ValueError, match="leaves the cache folder"):
        GETTERS["cloud_file"](ctx, {"path": str(tmp_path / "gold.txt"), "dest": "../escape.txt"})


def test_cache_file_finds_files_setup_left_in_the_cache(ctx):
    ctx.cache_dir.mkdir()
    (ctx.cache_dir / "seed.xlsx").write_bytes(b"x")
    assert GETTERS["cache_file"](ctx, {"path": "seed.xlsx"}) == str((ctx.cache_dir / "seed.xlsx").resolve())
    assert GETTERS["cache_file"](ctx, {"path": "other.xlsx"}) is None
