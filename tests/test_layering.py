"""The client layer imports nothing from Home Assistant; the glue sits on top of it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "custom_components" / "fish_audio_live"


def _imports(path: Path) -> set[str]:
    """Top-level names of modules imported by `path`, relative imports resolved."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
            elif node.level > 1:
                names.add("..")  # reaches out of the client package
    return names


def test_client_layer_imports_no_home_assistant() -> None:
    modules = sorted((PACKAGE / "fishaudio").glob("*.py"))
    assert len(modules) > 10
    for module in modules:
        found = _imports(module)
        assert "homeassistant" not in found, module.name
        assert ".." not in found, module.name
        assert found <= {"__future__", "aiohttp", "audioop", "msgpack", "asyncio", "collections",
                         "contextlib", "dataclasses", "html", "ipaddress", "json", "logging", "math", "pathlib",
                         "re", "struct", "time", "typing", "urllib", "yarl"}, (module.name, found)  # fmt: skip
