"""Jinja2 rendering of every text shown to users, shared by all channels.

Templates produce Telegram HTML (autoescaped); `html_to_text` turns it into plain text
for the console, and `split_message` keeps each message under Telegram's limit.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.screens.views import Reply

_BOT = Path(__file__).resolve().parent.parent
#: each capability keeps the templates of its own screens; names are unique across them
TEMPLATES = tuple(
    _BOT / room / "templates" for room in ("orientation", "territory", "leads", "dialogue")
)
TELEGRAM_LIMIT = 4096
_BLANK_LINES = re.compile(r"\n{3,}")


class Renderer:
    def __init__(self, templates: Sequence[Path] = TEMPLATES, *, html: bool = True) -> None:
        """``html=False``: plain text (an email), nothing escaped."""
        self.env = Environment(
            loader=FileSystemLoader([str(folder) for folder in templates]),
            autoescape=html,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=StrictUndefined,
            keep_trailing_newline=False,
            # templates ship with the code: a restart reloads them; no file check per message
            auto_reload=False,
        )
        self.env.filters["frdate"] = lambda d: d.strftime("%d/%m/%Y")

    def source_version(self, name: str) -> str:
        """A short fingerprint of a template's text: it changes whenever the text does
        (the version stored with a consent)."""
        source, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        return hashlib.sha256(source.encode()).hexdigest()[:12]

    def render(self, template: str, /, **context: Any) -> str:
        text = self.env.get_template(template).render(**context)
        return _BLANK_LINES.sub("\n\n", text).strip()


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split on paragraph, then line boundaries, so HTML tags (kept on one line) stay whole."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for block in text.split("\n\n"):
        pieces = [block] if len(block) <= limit else _split_lines(block, limit)
        for piece in pieces:
            candidate = f"{current}\n\n{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                if current:
                    parts.append(current)
                current = piece
    if current:
        parts.append(current)
    return parts


def _split_lines(block: str, limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for line in block.split("\n"):
        while len(line) > limit:  # a single huge line: cut at a space, outside tags
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            out.append(line[:cut])
            line = line[cut:].lstrip()
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
        else:
            out.append(current)
            current = line
    if current:
        out.append(current)
    return out


_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.S)


def html_to_text(text: str) -> str:
    """Telegram HTML to plain text for a terminal."""

    def link(m: re.Match[str]) -> str:
        url, label = html.unescape(m.group(1)), m.group(2)
        return label if label.strip() == url else f"{label} ({url})"

    text = _LINK.sub(link, text)
    text = re.sub(r"</?(b|strong)>", "", text)
    text = re.sub(r"</?(i|em|u|s|code|pre|blockquote|tg-spoiler)>", "", text)
    return html.unescape(text)


def split_reply(reply: Reply, limit: int = TELEGRAM_LIMIT) -> list[Reply]:
    """One reply as messages under the limit; the buttons go with the last one."""
    parts = split_message(reply.text, limit)
    if reply.document is not None:  # a caption: Telegram allows 1024 characters
        return [Reply(reply.text[:1024], reply.buttons, reply.document)]
    last = len(parts) - 1
    return [Reply(part, reply.buttons if i == last else []) for i, part in enumerate(parts)]
