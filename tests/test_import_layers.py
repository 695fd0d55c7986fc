"""Imports run one way: a first-party package may import only packages in layers below its own.

The graph is read from the source with `ast`, without importing anything, and counts every way one package
reaches another:

- ``import`` statements anywhere in a module: at module level, inside functions (a lazy import is still a
  dependency, only a deferred one) and under ``if TYPE_CHECKING:`` (a type named in a signature is part of the
  contract; a lower layer that needs an upper layer's type should declare a Protocol instead);
- string literals that name a first-party module, as ``"pkg.module"`` or ``"pkg.module:Name"``: the registries
  that import by name (providers, agents, lazy exports, Gymnasium entry points) and ``python -m pkg.module``.

A package is a directory under ``step_envs/`` (``step_envs.pool``, ``step_envs.desktop``, ...) or a top-level
module (``step_envs.episodes``); ``step_envs`` alone is the package's ``__init__`` (the public API) and
``step_train`` counts as one package. Imports inside one package are not checked.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("step_envs", "step_train")

LAYERS: tuple[tuple[str, ...], ...] = (
    ("step_train", "step_envs.cli"),  # the trainer; the `step-envs` commands
    ("step_envs",),  # the public API: registers the Gymnasium ids
    ("step_envs.bench",),  # the benchmark runner and its report
    ("step_envs.agents",),  # the agents the pool drives
    ("step_envs.pool",),  # many envs in parallel (and the Agent protocol it drives)
    ("step_envs.kinds",),  # kinds of env: desktop, android, registered ones (their packages declare them)
    ("step_envs.osworld",),  # OSWorld's DesktopEnv drop-in, built on the desktop env
    ("step_envs.desktop", "step_envs.android"),  # the Gymnasium envs
    ("step_envs.episode_env",),  # the episode core they share: steps, budget, end, env_error, template draws
    ("step_envs.providers",),  # where an env lives: local, docker, ray, emulator (and adb into a device)
    ("step_envs.docker",),  # the engine, the image, the step-gym containers
    ("step_envs.tasks",),  # task data: model, loaders, templates, suites, the setup-step vocabulary
    ("step_envs.widgets",),  # the widget app and its screen builder
    ("step_envs.checkers",),  # getters and metrics
    ("step_envs.server",),  # the controller inside an env, its client, downloads
    ("step_envs.spaces",),  # the Gymnasium spaces of actions
    ("step_envs.actions",),  # action sets: describe, parse, to_code
    ("step_envs.episodes", "step_envs.core", "step_envs.progress"),  # episode records; the shared core; progress
)
"""Top to bottom. A package may import the packages of the layers below its own, never those above or beside."""


@dataclass(frozen=True)
class Edge:
    """One reference from a module of package `source` to a module of package `target`."""

    source: str
    target: str
    file: str
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}  ({self.file}:{self.line}: {self.name})"


def first_party_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every first-party module (package ``__init__`` files included)."""
    modules = {}
    for top in FIRST_PARTY:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "data" in parts:  # files shipped as task data, not code of the package
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def package_of(module: str) -> str:
    """The package a module belongs to: ``step_envs.pool.slot`` -> ``step_envs.pool``."""
    parts = module.split(".")
    if parts[0] == "step_train" or len(parts) == 1:
        return parts[0]
    return ".".join(parts[:2])


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest first-party module that `name` (a dotted name, maybe ``module.attribute``) starts with."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def referenced_names(tree: ast.Module, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted name) of every import and every string that names a module, relative imports resolved."""
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names += [(node.lineno, f"{prefix}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.split(":")[0]
            parts = text.split(".")
            if len(parts) > 1 and parts[0] in FIRST_PARTY and all(part.isidentifier() for part in parts):
                names.append((node.lineno, text))
    return names


def import_edges() -> list[Edge]:
    """Every reference between two different first-party packages."""
    modules = first_party_modules()
    edges = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        source = package_of(module)
        for line, name in referenced_names(tree, module, path.name == "__init__.py"):
            target_module = resolve(name, modules)
            if target_module is None:
                continue
            target = package_of(target_module)
            if target != source:
                edges.append(Edge(source, target, str(path.relative_to(ROOT)), line, name))
    return edges


def module_edges() -> list[Edge]:
    """Every reference between two different first-party modules (the task data's scripts included), each edge's
    ends named by module."""
    modules = {**first_party_modules(), **data_modules()}
    edges = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, name in referenced_names(tree, module, path.name == "__init__.py"):
            target = resolve(name, modules)
            if target is not None and target != module and not module.startswith(target + "."):
                # a module naming its own package (``from step_envs.tasks import x`` inside step_envs.tasks.y)
                # reads the package's names, which Python has bound before running y: not a cycle of code
                edges.append(Edge(module, target, str(path.relative_to(ROOT)), line, name))
    return edges


def data_modules() -> dict[str, Path]:
    """The Python files shipped under ``data/`` (task generators), by dotted path."""
    return {".".join(path.relative_to(ROOT).with_suffix("").parts): path
            for top in FIRST_PARTY for path in sorted((ROOT / top).rglob("data/**/*.py"))}


def find_cycle(edges: list[Edge]) -> list[Edge] | None:
    """One cycle of the package graph as its edges (the first reference found for each), or None."""
    first: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        first.setdefault((edge.source, edge.target), edge)
    graph: dict[str, list[str]] = {}
    for source, target in first:
        graph.setdefault(source, []).append(target)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, [])):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return [first[(a, b)] for a, b in zip(cycle, cycle[1:], strict=False)]
    return None


def layer_of(layers: tuple[tuple[str, ...], ...] = LAYERS) -> dict[str, int]:
    """Package -> its layer's index, 0 at the top."""
    return {package: depth for depth, layer in enumerate(layers) for package in layer}


def layer_violations(edges: list[Edge], layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    """One line per reference that goes up or sideways: which package may not import which, and where it does."""
    depth = layer_of(layers)
    return [f"{edge.source} (layer {depth[edge.source]}) may not import {edge.target} (layer {depth[edge.target]}): "
            f"{edge.file}:{edge.line}: {edge.name}"
            for edge in edges
            if edge.source in depth and edge.target in depth and depth[edge.target] <= depth[edge.source]]


def test_first_party_packages_import_each_other_without_cycles():
    cycle = find_cycle(import_edges())
    assert cycle is None, "import cycle between first-party packages:\n  " + "\n  ".join(map(str, cycle))


def test_no_two_modules_import_each_other_even_inside_a_package():
    cycle = find_cycle(module_edges())
    assert cycle is None, ("import cycle between modules (move what both need to a module below them, or pass it "
                           "in):\n  " + "\n  ".join(map(str, cycle)))


def test_every_package_has_a_layer():
    packages = {package_of(module) for module in first_party_modules()}
    missing = sorted(packages - set(layer_of()))
    stale = sorted(set(layer_of()) - packages)
    assert not missing, f"packages with no layer: {', '.join(missing)}; add each to LAYERS in {Path(__file__).name}"
    assert not stale, f"LAYERS names packages that do not exist: {', '.join(stale)}; remove them"


def test_packages_import_only_the_layers_below_their_own():
    violations = layer_violations(import_edges())
    assert not violations, ("imports that go up or sideways (LAYERS in this file lists the order, top to bottom):\n  "
                            + "\n  ".join(violations))


def test_the_check_sees_lazy_imports_type_only_imports_and_registries():
    source = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from step_envs.pool import EnvPool\n"
        "def f():\n    from . import slot\n"
        "REGISTRY = {'x': 'step_envs.providers.local:LocalProvider'}\n")
    names = [name for _, name in referenced_names(source, "step_envs.desktop.env", is_package=False)]
    assert names == ["typing.TYPE_CHECKING", "step_envs.pool.EnvPool", "step_envs.desktop.slot",
                     "step_envs.providers.local"]


def test_a_cycle_is_reported_with_the_file_and_line_of_each_edge():
    edges = [Edge("a", "b", "a.py", 3, "b.x"), Edge("b", "c", "b.py", 5, "c.y"), Edge("c", "a", "c.py", 7, "a.z")]
    cycle = find_cycle(edges)
    assert [str(edge) for edge in cycle] == [
        "a -> b  (a.py:3: b.x)", "b -> c  (b.py:5: c.y)", "c -> a  (c.py:7: a.z)"]
    assert find_cycle(edges[:2]) is None


def test_an_import_up_or_sideways_names_both_layers_and_the_line():
    layers = (("top",), ("left", "right"), ("bottom",))
    edges = [Edge("top", "bottom", "t.py", 1, "bottom.x"), Edge("bottom", "top", "b.py", 2, "top.y"),
             Edge("left", "right", "l.py", 3, "right.z")]
    assert layer_violations(edges, layers) == [
        "bottom (layer 2) may not import top (layer 0): b.py:2: top.y",
        "left (layer 1) may not import right (layer 1): l.py:3: right.z"]
