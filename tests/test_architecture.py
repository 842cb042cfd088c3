"""The layout keeps its promises (docs/architecture.md): imports flow one way, with no circle
between project modules, the apps' top levels are packages and a handful of modules, and no
module grows past ~600 lines without saying why.

Read from the source (ast), so it needs no database and checks imports anywhere in a module,
function bodies included: a task importing its service inside a function is fine because no
service imports a task module (they enqueue by name through webcare.jobs).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("inbox", "routing", "reports", "webcare", "integrations", "api", "assist")
LONG = 600


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [resolve(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [
                    resolve(f"{node.module}.{alias.name}") or resolve(node.module)
                    for alias in node.names
                ]
            else:
                continue
            graph[module].update(t for t in targets if t and t != module)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_between_project_modules():
    assert circles(import_graph(project_modules())) == []


def test_the_check_finds_a_circle():
    graph = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert circles(graph) == [["a", "b", "c"]]


def test_services_never_import_task_modules():
    """They enqueue by name (webcare.jobs.enqueue): the one seam between the two."""
    modules = project_modules()
    graph = import_graph(modules)
    for module in modules:
        if ".services" in module or ".selectors" in module:
            tasks = {t for t in graph[module] if ".tasks" in t or t.endswith(".tasks")}
            assert not tasks, (module, tasks)


def test_app_top_levels_are_packages_and_a_handful_of_modules():
    """Django's own modules (models, admin, apps, urls, forms, ...) and little else: a concern with
    several modules is a package, whose name carries the structure file names used to."""
    for app in ("inbox", "routing", "integrations", "assist"):
        modules = sorted(p.stem for p in (ROOT / app).glob("*.py") if p.stem != "__init__")
        assert len(modules) <= 8, (app, modules)


def test_long_modules_say_why():
    """A module over ~600 lines says in its docstring why it is one module ("Size: ...")."""
    unexplained = []
    for name, path in project_modules().items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > LONG and "Size:" not in (ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{name} ({text.count(chr(10))} lines)")
    assert not unexplained, unexplained
