"""Architecture rules that keep the project's layers honest."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_core_and_storage_never_import_discord() -> None:
    for folder in ("bot/core", "bot/storage"):
        for path in (REPO / folder).rglob("*.py"):
            offending = {n for n in _imports(path) if n == "discord" or n.startswith("discord.")}
            assert not offending, f"{path.relative_to(REPO)} imports {offending}"


def test_the_core_does_not_import_storage_or_the_application() -> None:
    for path in (REPO / "bot/core").rglob("*.py"):
        outside = {
            n for n in _imports(path) if n.startswith("bot.") and not n.startswith("bot.core")
        }
        assert not outside, f"{path.relative_to(REPO)} imports {outside}"


def test_importing_the_whole_core_loads_no_discord_module() -> None:
    code = (
        "import pkgutil, importlib, sys, bot.core\n"
        "for m in pkgutil.walk_packages(bot.core.__path__, 'bot.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert not [n for n in sys.modules if n.split('.')[0] == 'discord'], 'discord imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_no_module_is_named_models_py() -> None:
    assert not [p for p in REPO.rglob("models.py") if ".venv" not in p.parts]
