"""Two or three schemes side by side, on the same dimensions, from the knowledge base.

No comparison is written by hand: each dimension is read from the fiches (who it is for,
who decides, capital, profits, a collectivité's place, taxes, the first step, the network
to call), each cell cut at a word so that the message fits a phone screen.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.dialogue.parts import Parts
from bot.orientation.engine import Session
from bot.screens.labels import AUDIENCE_LABELS, button
from bot.screens.views import Action, Button, Kind, Reply, Turn
from knowledge.schema import Scheme

MAX_COMPARED = 3
#: characters per cell, by number of schemes compared
CELL = {2: 120, 3: 62}
MISSING = "non précisé dans la fiche"


def cut(text: str, limit: int) -> str:
    """The first sentence of a text, cut at a word with « … » when still too long."""
    text = " ".join(text.split())
    first = re.split(r"(?<=[.;!?])\s", text, maxsplit=1)[0]
    first = first.rstrip(".;")
    if len(first) <= limit:
        return first
    return first[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:(") + "…"


def _money(topic: str) -> Callable[[Scheme], str | None]:
    def read(scheme: Scheme) -> str | None:
        return next((f.text for f in scheme.money if f.topic == topic), None)

    return read


def _collectivite(scheme: Scheme) -> str | None:
    """The first sentence of the fiche that speaks of collectivités."""
    facts = [f.text for f in [*scheme.conditions, *scheme.governance, *scheme.money]]
    for fact in facts:
        for sentence in re.split(r"(?<=[.;])\s", " ".join(fact.split())):
            if "collectivit" in sentence.lower():
                return sentence
    if "collectivite" in scheme.for_whom:
        return "oui, elles font partie des publics de ce cadre"
    return "elles ne font pas partie des publics de ce cadre"


DIMENSIONS: list[tuple[str, Callable[[Scheme], str | None]]] = [
    ("👥 Pour qui", lambda s: ", ".join(AUDIENCE_LABELS[a] for a in s.for_whom)),
    ("🗳️ Qui décide", lambda s: s.governance[0].text if s.governance else None),
    ("💰 Capital", _money("capital")),
    ("📈 Bénéfices", _money("profits")),
    ("🏛️ Une collectivité peut-elle y prendre part ?", _collectivite),
    ("🧾 Fiscalité", _money("taxes")),
    ("👣 Premier pas", lambda s: s.first_steps[0]),
    ("🤝 Le réseau à appeler", lambda s: s.support[0].name if s.support else None),
]


class Comparison:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def rows(self, schemes: list[Scheme]) -> list[tuple[str, list[tuple[str, str]]]]:
        limit = CELL.get(len(schemes), CELL[3])
        out = []
        for title, read in DIMENSIONS:
            cells = [(s.short_name, read(s)) for s in schemes]
            if all(value is None for _, value in cells):
                continue
            out.append((title, [(name, cut(v, limit) if v else MISSING) for name, v in cells]))
        return out

    def compare(self, session: Session, schemes: list[Scheme]) -> Turn:
        schemes = list({s.id: s for s in schemes}.values())
        status = "ok"
        if len(schemes) < 2:
            status = "one"
        elif len(schemes) > MAX_COMPARED:
            status = "many"
        text = self.parts.renderer.render(
            "compare.j2",
            status=status,
            schemes=schemes,
            rows=self.rows(schemes) if status == "ok" else [],
        )
        rows = [
            [Button(button("fiche", name=s.short_name), Action(Kind.fiche, s.id))] for s in schemes
        ]
        state = self.parts.engine.state(session)
        rows.append([self.parts.resume_button(state)])
        return Turn(session, [Reply(text, rows)], False)

    def by_ids(self, session: Session, arg: str) -> Turn:
        """The « ⚖️ Comparer » button: scheme ids joined by "+"."""
        schemes = [self.parts.kb.schemes[i] for i in arg.split("+") if i in self.parts.kb.schemes]
        return self.compare(session, schemes)
