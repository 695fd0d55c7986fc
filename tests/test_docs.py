"""The documentation: the mkdocs site builds in strict mode, the README's links land, every CLI command and flag is
documented."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
"""A markdown link `[text](target)`; the target is group 1."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `make docs` builds it (`mkdocs build --strict`), into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed (a broken link or anchor?):\n{log}"
    assert "WARNING" not in log, log
    return out


def test_the_docs_build_in_strict_mode_without_warnings(site: Path) -> None:
    pages = {page.stem for page in DOCS.glob("*.md")}
    built = {"index"} | {path.parent.name for path in site.glob("*/index.html")}
    assert pages <= built, f"pages not built: {sorted(pages - built)}"


def _readme_links() -> list[str]:
    return [target for target in LINK.findall((ROOT / "README.md").read_text())
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]  # relative links only, not http: or mailto:


def test_every_relative_link_in_the_readme_points_to_a_file_that_exists() -> None:
    links = _readme_links()
    assert links, "the README links into docs/"
    missing = [target for target in links if not (ROOT / target.partition("#")[0]).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_every_readme_link_into_the_docs_lands_on_an_anchor_of_the_built_page(site: Path) -> None:
    for target in _readme_links():
        path, _, anchor = target.partition("#")
        if not (path.startswith("docs/") and path.endswith(".md") and anchor):
            continue
        stem = Path(path).stem
        page = site / ("index.html" if stem == "index" else f"{stem}/index.html")
        assert f'id="{anchor}"' in page.read_text(), f"README links to {target}, but {page} has no such anchor"


def _commands(parser: argparse.ArgumentParser, prefix: str) -> Iterator[tuple[str, list[str]]]:
    """Every command of a parser tree as (`prefix sub ...`, its long options), the root included."""
    options = [opt for action in parser._actions for opt in action.option_strings
               if opt.startswith("--") and opt != "--help"]
    yield prefix, options
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{prefix} {name}")


@pytest.mark.parametrize("program", ["step-envs", "step-train"])
def test_every_command_and_flag_of_the_cli_is_documented(program: str) -> None:
    if program == "step-envs":
        from step_envs.cli.main import build_parser
    else:
        from step_train.cli import build_parser
    pages = [page.read_text() for page in sorted(DOCS.glob("*.md"))]
    undocumented = []
    for command, options in _commands(build_parser(), program):
        describing = [text for text in pages if command in text]  # a flag is documented on its command's page
        if not describing:
            undocumented.append(command)
        undocumented += [f"{command} {option}" for option in options
                         if not any(option in text for text in describing)]
    assert not undocumented, f"document these in docs/: {undocumented}"


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


@pytest.mark.desktop
def test_the_readme_s_env_and_pool_examples_run_as_written() -> None:
    env_block, pool_block = _python_blocks(ROOT / "README.md")[:2]
    scope: dict = {}
    exec(compile(env_block, "README.md (Environments)", "exec"), scope)  # noqa: S102 - our own documentation
    assert scope["reward"] == 1.0 and scope["terminated"], scope["info"]  # the example solves its task
    scope = {"print": lambda *args: None}
    exec(compile(pool_block, "README.md (pool)", "exec"), scope)  # noqa: S102
    episodes = scope["episodes"]
    assert [e.score for e in episodes] == [1.0, 1.0], [(e.task_id, e.score, e.env_error) for e in episodes]
    assert episodes[1].task_id.startswith("files-rename-file/")  # the template's instance the seed drew


def test_the_readme_s_headline_figures_are_the_recorded_ones() -> None:
    import json

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from headline import FIGURES, RECORD, shown

    record = json.loads(RECORD.read_text())
    readme = (ROOT / "README.md").read_text()
    for key, (what, _) in FIGURES.items():
        row = f"| {what} | {shown(key, record['figures'][key])}"
        assert row in readme, f"README.md's figure table should have {row!r} (benchmarks/headline.json)"


@pytest.mark.desktop
def test_bench_check_measures_the_headline_figures_and_names_regressions(tmp_path, capsys) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import headline

    assert headline.main(["--resets", "2", "--steps", "3", "--episodes", "1", "--factor", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "| reset of a simple task, local, p50 |" in out and "more than 0.001x the record" in out
