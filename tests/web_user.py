"""A person using the web chat over HTTP (Starlette's TestClient), as a browser without
JavaScript would: each click posts the form of the button, each answer the text form."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from starlette.testclient import TestClient

from knowledge.schema import Case

_BUTTON = re.compile(r'<button type="submit" name="(a|text)" value="([^"]*)">(.*?)</button>', re.S)
_TOKEN = re.compile(r'name="t" value="([^"]*)"')
_TAGS = re.compile(r"<[^>]+>")


def page_text(page: str) -> str:
    """What a person reads on a page: the text without the tags."""
    return html.unescape(_TAGS.sub("", page))


@dataclass
class WebUser:
    client: TestClient
    page: str = ""
    status: int = 0
    history: list[str] = field(default_factory=list)

    def open(self, path: str = "/chat") -> str:
        response = self.client.get(path)
        self.status, self.page = response.status_code, response.text
        return self.page

    @property
    def text(self) -> str:
        return page_text(self.page)

    @property
    def token(self) -> str:
        found = _TOKEN.search(self.page)
        assert found, "no form on the page"
        return html.unescape(found.group(1))

    def buttons(self) -> list[tuple[str, str, str]]:
        """(field, value, label) of every button of the page's messages, in order."""
        return [
            (name, html.unescape(value), page_text(label).strip())
            for name, value, label in _BUTTON.findall(self.page)
        ]

    def post(self, data: dict[str, str], headers: dict[str, str] | None = None) -> str:
        response = self.client.post("/chat", data={"t": self.token, **data}, headers=headers)
        self.status, self.page = response.status_code, response.text
        self.history.append(self.page)
        return self.page

    def click(self, label: str) -> str:
        """Press the message button whose words contain `label`."""
        for name, value, words in self.buttons():
            if name == "a" and label in words:
                return self.post({"a": value})
        raise AssertionError(f"no button {label!r} among {[b[2] for b in self.buttons()]}")

    def send(self, text: str) -> str:
        return self.post({"text": text})

    def answer(self, case: Case) -> None:
        """Answer the case's questions through the buttons shown, until none is asked."""
        for _ in range(30):
            chosen = [
                value
                for name, value, _ in self.buttons()
                if name == "a"
                and value.startswith("a|")
                and case.answers.get(value.split("|")[2]) == value.split("|")[3]
            ]
            if not chosen:
                return
            self.post({"a": chosen[0]})
        raise AssertionError("the orientation did not end")
