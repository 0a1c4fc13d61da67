"""The web chat's pages: the dialogue's replies (Telegram HTML) drawn as safe HTML forms.

Reply texts are Telegram HTML (b, i, u, s, code, pre, blockquote, a): only those tags are
kept, without any attribute but a link's http(s)/mailto/tel/tg address; everything else is
shown as text. Each button is a form button carrying its encoded action, so the page works
without JavaScript; the script only posts the same forms with fetch.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from bot.screens.views import Reply, encode_action

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_KEPT = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "blockquote"}
_SCHEMES = ("http://", "https://", "mailto:", "tel:", "tg://")


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _KEPT:
            self.out.append(f"<{tag}>")
            self.open.append(tag)
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if href.lower().startswith(_SCHEMES):
                self.out.append(
                    f'<a href="{html.escape(href)}" target="_blank" rel="noopener noreferrer">'
                )
                self.open.append("a")
        elif (tag == "span" and ("class", "tg-spoiler") in attrs) or tag == "tg-spoiler":
            self.out.append('<span class="spoiler">')
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:  # close up to the matching tag: the output stays well-formed
            while self.open:
                last = self.open.pop()
                self.out.append("</span>" if last in ("span", "tg-spoiler") else f"</{last}>")
                if last == tag:
                    break

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        while self.open:
            last = self.open.pop()
            self.out.append("</span>" if last in ("span", "tg-spoiler") else f"</{last}>")
        return "".join(self.out)


def safe_html(telegram_html: str) -> Markup:
    """Telegram HTML as HTML a page can show: known tags only, safe links, the rest text."""
    parser = _Sanitizer()
    parser.feed(telegram_html)
    return Markup(parser.result())


@dataclass
class WebButton:
    label: str
    value: str | None = None  # the encoded action, posted as `a`
    url: str | None = None


@dataclass
class WebReply:
    html: Markup
    rows: list[list[WebButton]]
    download: tuple[str, str] | None = None  # a file: (name, data: address)


def web_reply(reply: Reply) -> WebReply:
    rows = [
        [
            WebButton(b.label, encode_action(b.action) if b.action is not None else None, b.url)
            for b in row
            if b.action is not None or (b.url or "").startswith(("http://", "https://"))
        ]
        for row in reply.buttons
    ]
    download = None
    if reply.document is not None:
        name, content = reply.document
        data = base64.b64encode(content).decode()
        download = (name, f"data:application/octet-stream;base64,{data}")
    return WebReply(safe_html(reply.text), [row for row in rows if row], download)


class Pages:
    """The page and fragment templates (autoescaped HTML)."""

    def __init__(self, base: str = "/chat") -> None:
        self.base = base
        self.env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=StrictUndefined,
        )

    def render(self, name: str, /, **context: Any) -> str:
        context.setdefault("base", self.base)
        return self.env.get_template(name).render(**context)

    def turn(
        self,
        replies: list[Reply],
        token: str,
        said: str = "",
        notice: str | None = None,
        readonly: bool = False,
    ) -> dict[str, Any]:
        """What a turn's template needs."""
        return {
            "replies": [web_reply(r) for r in replies],
            "token": token,
            "said": said,
            "notice": notice,
            "readonly": readonly,
        }
