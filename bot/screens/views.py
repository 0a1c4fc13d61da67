"""What a channel shows: texts (Telegram HTML) and buttons carrying domain actions.

Channels (console, Telegram) only draw these: the console numbers the buttons, Telegram
turns them into inline keyboards. No channel decides what to say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.orientation.engine import Session


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
    privacy = "v"
    forget = "x"  # arg "" asks for confirmation, "ok" erases, "no" keeps everything
    lead = "e"  # being put in touch: arg "start:<organisation>", "yes", "no", "send", "fix"…
    followup = "u"  # question = lead id, arg "yes" / "no": were you contacted?
    partner = "w"  # a partner's button on a lead: question = lead id, arg = the verb
    my_data = "d"
    leads = "o"  # an operator's leads: arg "" (the list) or "csv" (the export)
    stats = "s"  # an operator's statistics
    share = "g"  # a link that reopens this result read-only
    compare = "z"  # arg = scheme ids joined by "+"


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
    document: tuple[str, bytes] | None = None  # a file sent with the text (name, content)


@dataclass
class Turn:
    """What a channel must store and show after one input."""

    session: Session
    replies: list[Reply]
    changed: bool  # the session changed and must be saved
    notice: str | None = None  # a short toast (e.g. a callback answer)
    edit: bool = False  # the first reply may replace the message whose button was pressed
    erase: bool = False  # the person asked to forget everything stored about them
    effects: list[SendLead | Finished | Missed] = field(default_factory=list)  # stored with it


@dataclass(frozen=True)
class Finished:
    """An orientation reached its result: counted, anonymously, for statistics."""

    profile: str | None
    schemes: list[str]
    unmet: bool


@dataclass(frozen=True)
class Missed:
    """A typed message not understood, counted by kind (« question », « place »…), never kept."""

    kind: str


@dataclass(frozen=True)
class SendLead:
    """A consented lead to store, with its delivery, in the same transaction as the step."""

    lead: dict[str, Any]
    organisation: str
    channels: list[str]
    operator_id: int | None = None
    sender_organisation: str | None = None  # the operator's organisation, for its follow-up
    erasure_code: str | None = None  # given to the person of an on-behalf lead


#: buttons that move around the dialogue rather than choose from a list: not numbered
CONTROLS = frozenset(
    {Kind.help, Kind.back, Kind.restart, Kind.current, Kind.change_place, Kind.privacy}
)


def is_listed(action: Action) -> bool:
    """A button of a list (an option, a fiche, a place…) that a typed number can press."""
    if action.kind in CONTROLS:
        return False
    return not (action.kind is Kind.place and action.arg == "-")  # « Passer cette étape »


def listed(replies: list[Reply]) -> list[Action] | None:
    """The numbered buttons of what a turn shows: those of the last reply that has a list
    (a question's options, suggestions, a result's fiches…); None when no reply has one."""
    for reply in reversed(replies):
        actions = [b.action for row in reply.buttons for b in row if b.action is not None]
        numbered = [a for a in actions if is_listed(a)]
        if numbered:
            return numbered
    return None


def telegram_chat(chat_key: str) -> int | None:
    """The Telegram chat id of a conversation key (`tg:<id>`); None for the console."""
    kind, _, value = chat_key.partition(":")
    return int(value) if kind == "tg" and value.lstrip("-").isdigit() else None


#: a network's tag in a web chat key: `web:<network>.<random id>`
_NETWORK = re.compile(r"[a-z0-9][a-z0-9-]{0,29}")


def web_network(chat_key: str) -> str | None:
    """The network whose page a web conversation started from, if any."""
    kind, _, value = chat_key.partition(":")
    network, dot, _ = value.partition(".")
    if kind != "web" or not dot or not _NETWORK.fullmatch(network):
        return None
    return network


def network_tag(value: str | None) -> str | None:
    """A `?from=` value as a network tag (lower-case letters, digits, dashes), or None."""
    tag = (value or "").strip().lower()
    return tag if _NETWORK.fullmatch(tag) else None


#: Telegram refuses callback data over 64 bytes
CALLBACK_LIMIT = 64
_KINDS = {k.value: k for k in Kind}


def encode_action(action: Action) -> str:
    """Compact button data: `kind|step|question|arg`, e.g. `a|3|statut|scic` (< 64 bytes).

    The step is the session step when the button was drawn, so a button from an older
    screen is recognised as stale instead of being applied to the wrong question.
    """
    step = "" if action.step is None else str(action.step)
    data = f"{action.kind.value}|{step}|{action.question}|{action.arg}"
    if len(data.encode()) > CALLBACK_LIMIT:
        raise ValueError(f"callback data over {CALLBACK_LIMIT} bytes: {data!r}")
    return data


def decode_action(data: str | None) -> Action | None:
    """The action a button carries, or None for anything forged or malformed."""
    if not data or len(data) > CALLBACK_LIMIT:
        return None
    parts = data.split("|", 3)
    if len(parts) != 4:
        return None
    kind, step, question, arg = parts
    if kind not in _KINDS or (step and not step.isdigit()) or len(step) > 4:
        return None
    return Action(_KINDS[kind], arg, question, int(step) if step else None)
