"""Play the evaluation sets of typed messages and places (knowledge/cases/typed.yaml,
knowledge/cases/places.yaml) through the shared dialogue; used by the tests and
`benchmarks/typed.py`.

A typed message is handled right when the dialogue does what the set expects; it is a
wrong answer when an answer is recorded that the set does not expect (the one outcome
that must never happen).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue.router import Conversation
from bot.orientation.engine import Engine, Session
from bot.screens.render import html_to_text
from bot.screens.views import Kind, Turn, decode_action
from knowledge.loader import KNOWLEDGE_DIR

TYPED_FILE = KNOWLEDGE_DIR / "cases" / "typed.yaml"
PLACES_FILE = KNOWLEDGE_DIR / "cases" / "places.yaml"


def load_set(path: Path, key: str) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list(data.get(key, []))


def path_to(engine: Engine, question_id: str) -> Session | None:
    """A session where `question_id` is asked (the first path found), `result` for the
    end of the first path; None when no path reaches it."""
    todo: deque[Session] = deque([Session()])
    seen: set[tuple[tuple[str, str], ...]] = set()
    while todo:
        session = todo.popleft()
        state = engine.state(session)
        if state.question is None:
            if question_id == "result":
                return session
            continue
        if state.question.id == question_id:
            return session
        for option in state.question.options:
            if option.unknown:
                continue
            new = engine.answer(session, state.question.id, option.value)
            if new.answers not in seen:
                seen.add(new.answers)
                todo.append(new)
    return None


@dataclass
class Outcome:
    text: str
    at: str
    expected: dict[str, Any]
    got: str
    right: bool
    wrong_answer: bool


def outcome(conversation: Conversation, before: Session, turn: Turn) -> str:
    """What a turn did, in the set's words: answer:<v>, place:<dep>, compare:<a,b>,
    fiche:<id>, intent:<id> or nothing."""
    after = turn.session
    grown = len(after.answers) == len(before.answers) + 1
    if grown and after.answers[:-1] == before.answers:
        return f"answer:{after.answers[-1][1]}"
    if after.answers != before.answers:
        return "changed:" + ",".join(v for _, v in after.answers)
    if after.place != before.place and after.place:
        place = conversation.geo.from_key(after.place)
        dep = place.departement.code if place and place.departement else after.place
        return f"place:{dep}"
    texts = " ".join(r.text for r in turn.replies)
    for intent in conversation.kb.intents:
        if html_to_text(intent.answer.strip()) in html_to_text(texts):
            return f"intent:{intent.id}"
    for reply in turn.replies:
        if "côte à côte" in reply.text:
            ids = [
                a.arg
                for row in reply.buttons
                for b in row
                if (a := b.action) is not None and a.kind is Kind.fiche
            ]
            return "compare:" + ",".join(ids)
    for reply in turn.replies:
        sections = [
            a.arg.partition(":")[0]
            for row in reply.buttons
            for b in row
            if (a := b.action) is not None and a.kind is Kind.fiche and ":" in a.arg
        ]
        if sections and "Premier pas" in reply.text:
            return f"fiche:{sections[0]}"
    return "nothing"


def expected_of(item: dict[str, Any]) -> str:
    expect = item["expect"]
    if "answer" in expect:
        return f"answer:{expect['answer']}"
    if "place" in expect:
        return f"place:{expect['place']}"
    if "compare" in expect:
        return "compare:" + ",".join(expect["compare"])
    if "fiche" in expect:
        return f"fiche:{expect['fiche']}"
    if "intent" in expect:
        return f"intent:{expect['intent']}"
    return "nothing"


def play_typed(conversation: Conversation, items: list[dict[str, Any]]) -> list[Outcome]:
    starts: dict[str, Session] = {}
    out: list[Outcome] = []
    for item in items:
        at = str(item["at"])
        if at == "first":
            before = Session()
        else:
            if at not in starts:
                found = path_to(conversation.engine, at)
                assert found is not None, f"no path reaches {at}"
                # /start was shown: the session remembers the welcome
                starts[at] = conversation.welcome(found).session
            before = starts[at]
        turn = conversation.handle_text(before, str(item["text"]))
        got = outcome(conversation, before, turn)
        want = expected_of(item)
        right = got == want
        suggests = item.get("suggests")
        if right and suggests:
            offered = [decode_action(a) for a in turn.session.offer]
            right = any(a is not None and a.arg == suggests for a in offered)
        recorded = got.startswith(("answer:", "changed:"))
        wrong = recorded and got != want
        out.append(Outcome(str(item["text"]), at, item["expect"], got, right, wrong))
    return out


@dataclass
class PlaceOutcome:
    query: str
    expected: dict[str, Any]
    status: str
    deps: list[str]
    right: bool
    wrong_taken: bool  # a place taken silently in the wrong département


def play_places(geo: Any, items: list[dict[str, Any]]) -> list[PlaceOutcome]:
    out: list[PlaceOutcome] = []
    for item in items:
        query = str(item["q"])
        resolution = geo.resolve(query)
        best = resolution.best
        deps = [
            c.departement.code if c.departement else f"r:{c.region.code}"
            for c in resolution.candidates
        ]
        taken = None
        if best is not None:
            taken = best.departement.code if best.departement else f"r:{best.region.code}"
        if "found" in item:
            right = taken == str(item["found"])
        elif "proposed" in item:
            right = taken is None and str(item["proposed"]) in deps
        elif "asked" in item:
            right = taken is None and set(map(str, item["asked"])) <= set(deps)
        else:
            right = resolution.status == "not_found"
        wanted = str(item.get("found", ""))
        wrong = taken is not None and taken != wanted
        out.append(PlaceOutcome(query, item, resolution.status, deps, right, wrong))
    return out
