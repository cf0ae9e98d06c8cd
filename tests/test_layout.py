"""The layout holds: layers import one way (sources -> vision -> model -> emotion, publish
beside emotion), no import cycle between the device's packages, no module over 400 lines,
and the device never imports the desktop tool or training libraries (tools -> device only).

The import graph is read from the source (every ``import`` and ``from ... import``, also
those inside functions), so a lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "device" / "microemo"
TOOLS = ROOT / "tools" / "microemo_train"
FORBIDDEN = ("microemo_train", "sklearn", "skrebate", "dask", "distributed", "keras")
MAX_LINES = 400

# Shared root modules: any package may read them, they read no package.
SHARED = {
    *("microemo", "config", "config_base", "config_au", "config_cabin", "config_mqtt"),
    "config_errors",
    *("types", "assets", "secrets", "platform", "clock"),
}
# The layers, lowest first: a layer imports only lower layers (and the shared modules).
# emotion, cabin and publish share a rank, so none imports another: emotion and cabin hand
# typed episode and cabin steps on, publish turns them into payloads. The drivers (pipeline,
# daemon, analyze, cli) may use any layer; among themselves only the cycle check applies.
RANK = {"sources": 1, "vision": 2, "model": 3, "emotion": 4, "cabin": 4, "publish": 4}


def unit(module: str, root: str = "microemo") -> str | None:
    """The package (or root module) of ``microemo.x.y...``: ``x``; None outside ``root``."""
    parts = module.split(".")
    if parts[0] != root:
        return None
    return parts[1] if len(parts) > 1 and parts[1] != "__init__" else root


def import_graph(package_dir: Path) -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> where, for every import between two units."""
    root = package_dir.name
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir.parent)
        src = unit(".".join(rel.with_suffix("").parts), root)
        for module, line in imports_in(path, package_dir.parent):
            dst = unit(module, root)
            if dst is None or src is None or dst == src:
                continue
            if dst not in units(package_dir):  # `from microemo import RUNTIME_VERSION`
                dst = root
            edges.setdefault((src, dst), []).append(f"{rel}:{line} imports {module}")
    return edges


def imports_in(path: Path, top: Path) -> Iterator[tuple[str, int]]:
    """Every module ``path`` imports (absolute names, ``from a import b`` as ``a.b``), with
    the line, at any depth: also inside functions."""
    tree = ast.parse(path.read_text())
    here = list(path.relative_to(top).with_suffix("").parts)[:-1]  # the module's package
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            parts = here[: len(here) - node.level + 1] if node.level else []
            base = ".".join([*parts, node.module] if node.module else parts)
            for a in node.names:
                yield f"{base}.{a.name}", node.lineno


def units(package_dir: Path) -> set[str]:
    found = {p.name for p in package_dir.iterdir() if (p / "__init__.py").is_file()}
    found |= {p.stem for p in package_dir.glob("*.py") if p.stem != "__init__"}
    return found | {package_dir.name}


def layer_breaches(edges: dict[tuple[str, str], list[str]]) -> list[str]:
    shared = SHARED | {"microemo"}
    out = []
    for (src, dst), where in sorted(edges.items()):
        if src in shared and dst not in shared:
            out.append(f"shared module {src} imports package {dst}: {where[0]}")
        elif src in RANK and dst not in shared and RANK.get(dst, 99) >= RANK[src]:
            out.append(f"{src} imports {dst} (same or higher layer): {where[0]}")
    return out


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Every elementary cycle's nodes, found by depth-first search from each node."""
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
    found: set[tuple[str, ...]] = set()

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                found.add(tuple(path))
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its least node
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return [list(c) for c in sorted(found)]


def test_layers_import_one_way_and_no_package_cycle() -> None:
    edges = import_graph(DEVICE)
    for a, b in (("emotion", "publish"), ("cabin", "publish"), ("cabin", "emotion")):
        for pair in ((a, b), (b, a)):
            assert pair not in edges, f"{pair[0]} imports {pair[1]}: {edges[pair][0]}"
    assert layer_breaches(edges) == []
    loops = cycles(edges)
    assert loops == [], [" -> ".join([*c, c[0]]) + f": {edges[(c[0], c[1])][0]}" for c in loops]


def test_the_checks_see_a_breach_and_a_cycle_hidden_in_functions(tmp_path: Path) -> None:
    """The checker itself, on a made-up package: a lazy import inside a function counts."""
    pkg = tmp_path / "microemo"
    for name in ("emotion", "cabin", "publish", "daemon", "analyze"):
        (pkg / name).mkdir(parents=True)
        (pkg / name / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "types.py").write_text("")
    (pkg / "emotion" / "episodes.py").write_text(
        "def step():\n    from microemo.publish.events import EventBuilder\n"
    )
    (pkg / "publish" / "events.py").write_text("from microemo.types import EpisodeStep\n")
    (pkg / "cabin" / "stage.py").write_text("from microemo.publish import events\n")
    (pkg / "daemon" / "cli.py").write_text("from microemo.analyze import run\n")
    (pkg / "analyze" / "run.py").write_text("def go():\n    from ..daemon import cli\n")
    edges = import_graph(pkg)
    assert layer_breaches(edges) == [
        "cabin imports publish (same or higher layer): microemo/cabin/stage.py:1 "
        "imports microemo.publish.events",
        "emotion imports publish (same or higher layer): microemo/emotion/episodes.py:2 "
        "imports microemo.publish.events.EventBuilder",
    ]
    assert cycles(edges) == [["analyze", "daemon"]]


def test_no_module_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*DEVICE.rglob("*.py"), *TOOLS.rglob("*.py")]
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_device_sources_import_no_training_code() -> None:
    for path in DEVICE.rglob("*.py"):
        for module, line in imports_in(path, DEVICE.parent):
            assert module.split(".")[0] not in FORBIDDEN, f"{path}:{line}: imports {module}"


def test_running_the_device_stack_loads_no_training_library() -> None:
    code = (
        "import sys\n"
        "from microemo.daemon.cli import keep_training_libraries_out\n"
        "keep_training_libraries_out()\n"
        "import microemo.pipeline, microemo.daemon.service, microemo.publish.mqtt.sink\n"
        "import microemo.model.store, microemo.model.updates, microemo.model.runner\n"
        "import microemo.analyze.cli\n"
        "from microemo.config import Config\n"
        "from microemo.pipeline import Pipeline\n"
        "Pipeline(Config()).close()\n"
        "bad = [m for m, mod in sys.modules.items() if mod is not None\n"
        f"       and m.split('.')[0] in {FORBIDDEN!r} + ('tensorflow',)]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]


def test_nothing_on_the_device_imports_the_hub_second_opinion() -> None:
    """``reason`` (microemo-reason) runs on the hub: no other package imports it, and only it
    imports the language-model client, so the device never loads either."""
    edges = import_graph(DEVICE)
    users = [where[0] for (src, dst), where in sorted(edges.items()) if dst == "reason"]
    assert users == []
    for path in DEVICE.rglob("*.py"):
        if (DEVICE / "reason") in path.parents:
            continue
        for module, line in imports_in(path, DEVICE.parent):
            assert module.split(".")[0] != "openai", f"{path}:{line}: imports {module}"
