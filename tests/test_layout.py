"""The code stays in rooms a newcomer can read: by capability, small modules and classes,
and only one module of bot/ that speaks Telegram."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES, MAX_CLASS_LINES = 500, 300


def sources() -> list[Path]:
    return sorted(
        p for folder in ("bot", "handlers", "knowledge") for p in (ROOT / folder).rglob("*.py")
    )


def test_no_module_or_class_too_long() -> None:
    too_long = []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    too_long.append(f"{name}: class {node.name}, {size} lines")
    assert too_long == []


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_the_telegram_channel_imports_telegram() -> None:
    speaking = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "bot").rglob("*.py")
        if any(name == "telegram" or name.startswith("telegram.") for name in imports(path))
    }
    assert speaking == {"bot/channels/telegram.py"}


def test_bot_is_grouped_by_capability() -> None:
    rooms = {p.name for p in (ROOT / "bot").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert rooms >= {
        "channels",
        "dialogue",
        "leads",
        "orientation",
        "platform",
        "screens",
        "territory",
    }
    flat = {p.name for p in (ROOT / "bot").glob("*.py")}
    assert flat <= {"__init__.py", "__main__.py", "cli.py"}


def test_the_lead_rooms_do_not_reach_up_into_the_dialogue_router() -> None:
    for path in (ROOT / "bot" / "leads").glob("*.py"):
        assert "bot.dialogue.router" not in imports(path), path.name
