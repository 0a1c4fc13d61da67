"""What a channel shows: texts (Telegram HTML) and buttons carrying domain actions.

Channels (console, Telegram) only draw these: the console numbers the buttons, Telegram
turns them into inline keyboards. No channel decides what to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.engine import Session


class Kind(StrEnum):
    answer = "a"  # arg = option value, question = question id
    help = "h"  # question = question id
    back = "b"
    restart = "r"
    fiche = "f"  # arg = scheme id
    schemes = "l"
    current = "c"  # show where the person is
    place = "p"  # arg = a territory key ("c:14167", "d:62", "r:32") or "-" to skip
    contacts = "k"
    funders = "m"
    change_place = "t"


@dataclass(frozen=True)
class Action:
    kind: Kind
    arg: str = ""
    question: str = ""
    step: int | None = None  # the session step when the button was drawn (stale detection)


@dataclass(frozen=True)
class Button:
    label: str
    action: Action | None = None
    url: str | None = None


@dataclass
class Reply:
    text: str  # Telegram HTML, every user value escaped
    buttons: list[list[Button]] = field(default_factory=list)


@dataclass
class Turn:
    """What a channel must store and show after one input."""

    session: Session
    replies: list[Reply]
    changed: bool  # the session changed and must be saved
    notice: str | None = None  # a short toast (e.g. a callback answer)
