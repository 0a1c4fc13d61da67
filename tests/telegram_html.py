"""Check that a text is HTML Telegram would accept (parse_mode=HTML)."""

from __future__ import annotations

from html.parser import HTMLParser

ALLOWED = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
    "tg-emoji",
}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self.errors.append(f"tag <{tag}> not supported by Telegram")
        if tag == "a" and [k for k, _ in attrs] != ["href"]:
            self.errors.append("<a> needs exactly one href attribute")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}>")
        else:
            self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in {"lt", "gt", "amp", "quot"}:
            self.errors.append(f"entity &{name}; not supported by Telegram")


def html_errors(text: str) -> list[str]:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.stack:
        checker.errors.append(f"unclosed tags: {checker.stack}")
    # a bare '<' or '&' that is not markup would be refused as well
    stripped = text
    for tag in ALLOWED:
        stripped = stripped.replace(f"<{tag}>", "").replace(f"</{tag}>", "")
    if "<" in stripped.replace("<a href=", ""):
        checker.errors.append("a raw '<' outside a supported tag")
    return checker.errors
