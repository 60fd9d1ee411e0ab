"""No module of ours imports itself back, function-level imports included
(scripts/import_cycles.py lists them; issue 21 brought the count to zero)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_cycles.py"


def _script():
    spec = importlib.util.spec_from_file_location("import_cycles", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_in_mimo_core_and_app():
    script = _script()
    edges = script.graph(script.module_names(["mimo_core", "app"]))
    assert len(edges) > 100                                  # it did read our modules
    assert [script.describe(c, edges) for c in script.cycles(edges)] == []


def test_the_check_sees_a_cycle_made_inside_a_function():
    script = _script()
    edges = {"a": {"b": False}, "b": {"a": True}, "c": {}}
    assert [script.describe(c, edges) for c in script.cycles(edges)] == ["a -> b ~> a"]
