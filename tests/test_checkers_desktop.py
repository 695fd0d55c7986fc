"""Getters and evaluate() against a real local desktop session (Xvfb + Xfce + the controller server)."""

from pathlib import Path

import pytest

from step_envs.checkers import GETTERS, CheckContext, Score, evaluate
from step_envs.providers.local import LocalProvider
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop


@pytest.fixture(scope="module")
def client():
    provider = LocalProvider()
    try:
        controller = ControllerClient(provider.start())
        controller.execute("mkdir -p ~/Documents/reports && printf 'alpha\\nbeta\\n' > ~/Documents/out.txt "
                           "&& echo q1 > ~/Documents/reports/q1.txt", shell=True)
        yield controller
        controller.close()
    finally:
        provider.stop()


@pytest.fixture
def ctx(client, tmp_path):
    return CheckContext(client=client, cache_dir=tmp_path / "cache")


def test_vm_file_fetches_a_file_written_in_the_env_into_the_cache(ctx):
    local = GETTERS["vm_file"](ctx, {"path": "~/Documents/out.txt", "dest": "out.txt"})
    assert local == str((ctx.cache_dir / "out.txt").resolve())
    assert Path(local).read_text() == "alpha\nbeta\n"


def test_vm_file_returns_none_for_a_missing_file(ctx):
    assert GETTERS["vm_file"](ctx, {"path": "~/Documents/absent.txt", "dest": "absent.txt"}) is None


def test_vm_file_multi_fetches_every_file_and_gives_the_chosen_ones(ctx):
    config = {"multi": True, "path": ["~/Documents/out.txt", "~/absent.txt", "~/Documents/reports/q1.txt"],
              "dest": ["out.txt", "absent.txt", "q1.txt"], "gives": [1, 2]}
    assert GETTERS["vm_file"](ctx, config) == [None, str((ctx.cache_dir / "q1.txt").resolve())]
    assert (ctx.cache_dir / "out.txt").read_text() == "alpha\nbeta\n"  # fetched though not given


def test_vm_command_line_and_error_return_stdout_and_stderr(ctx):
    command = {"command": "cat ~/Documents/out.txt; echo oops >&2", "shell": True}
    assert GETTERS["vm_command_line"](ctx, command) == "alpha\nbeta\n"
    assert GETTERS["vm_command_error"](ctx, command) == "oops\n"


def test_vm_command_line_returns_none_when_the_command_cannot_run(ctx):
    assert GETTERS["vm_command_line"](ctx, {"command": ["/nonexistent/tool"]}) is None


def test_list_directory_returns_the_tree_and_none_for_a_non_directory(ctx):
    tree = GETTERS["list_directory"](ctx, {"path": "~/Documents"})
    assert {"type": "file", "name": "out.txt"} in tree["children"]
    assert GETTERS["list_directory"](ctx, {"path": "~/Documents/out.txt"}) is None


def test_screen_size_and_accessibility_tree_come_from_the_env(ctx):
    assert GETTERS["vm_screen_size"](ctx, {}) == {"width": 1280, "height": 720}
    assert GETTERS["accessibility_tree"](ctx, {}).startswith("<")


def compare_with_gold(path: str, gold: Path) -> dict:
    return {"func": "compare_text_file", "result": {"type": "vm_file", "path": path, "dest": "out.txt"},
            "expected": {"type": "local_file", "path": str(gold)}}


def test_evaluate_end_to_end_scores_one_on_the_right_file(ctx, tmp_path):
    (tmp_path / "gold.txt").write_text("alpha\nbeta\n")
    evaluator = compare_with_gold("~/Documents/out.txt", tmp_path / "gold.txt")
    assert evaluate(evaluator, ctx) == Score(1.0, "compare_text_file: same text")


def test_evaluate_end_to_end_explains_a_wrong_and_a_missing_file(ctx, tmp_path):
    (tmp_path / "gold.txt").write_text("alpha\ngamma\n")
    wrong = compare_with_gold("~/Documents/out.txt", tmp_path / "gold.txt")
    assert evaluate(wrong, ctx) == Score(0.0, "compare_text_file: line 2: 'beta' != 'gamma'")
    missing = compare_with_gold("~/Documents/absent.txt", tmp_path / "gold.txt")
    assert evaluate(missing, ctx) == Score(0.0, "compare_text_file: ~/Documents/absent.txt missing")


def test_evaluate_end_to_end_combines_command_output_and_directory_checks(ctx):
    evaluator = {"func": ["check_include_exclude", "exists_in_directory"], "conj": "and",
                 "result": [{"type": "vm_command_line", "command": ["cat", "~/Documents/out.txt"]},
                            {"type": "list_directory", "path": "~/Documents"}],
                 "expected": [{"type": "rule", "rules": {"include": ["beta"], "exclude": ["error"]}},
                              {"type": "rule", "rules": {"expected": ["out.txt", "reports/q1.txt"]}}]}
    assert evaluate(evaluator, ctx).value == 1.0
