"""Fiches: one scheme explained, the list of them all, and finding one by its name."""

from __future__ import annotations

from collections.abc import Sequence

from bot.dialogue.parts import Parts
from bot.orientation.engine import Session
from bot.screens.labels import AUDIENCE_LABELS, KIND_LABELS, MONEY_LABELS, button
from bot.screens.views import Action, Button, Kind, Reply, Turn
from bot.territory.routing import effective_profile
from knowledge.schema import Scheme


class FichesDialogue:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def fiche(self, scheme: Scheme, session: Session) -> list[Reply]:
        keys = list(scheme.sources)

        def refs(sources: Sequence[str]) -> str:
            nums = [str(keys.index(k) + 1) for k in sources if k in keys]
            return f"[{', '.join(nums)}]" if nums else ""

        text = self.parts.renderer.render(
            "scheme.j2",
            s=scheme,
            refs=refs,
            audiences=", ".join(AUDIENCE_LABELS[a] for a in scheme.for_whom),
            money_topics=MONEY_LABELS,
        )
        buttons = [[self.parts.resume_button(self.parts.engine.state(session))]]
        nearby = self.nearby(scheme, session)
        if nearby:  # its own short message, after the fiche, with the buttons
            return [Reply(text), Reply(nearby, buttons)]
        return [Reply(text, buttons)]

    def nearby(self, scheme: Scheme, session: Session) -> str:
        """With a place: what already runs nearby and the open aids for this fiche."""
        place = self.parts.geo.from_key(session.place or "")
        if place is None:
            return ""
        state = self.parts.engine.state(session)
        profile = effective_profile(state.facts)
        view = self.parts.nearby.find(place, profile, state.facts.get("stage"), [scheme.id])
        return self.parts.renderer.render("nearby.j2", nearby=view, short=True)

    def schemes_list(self, session: Session) -> Reply:
        groups = []
        for kind, label in KIND_LABELS.items():
            items = sorted(
                (s for s in self.parts.kb.schemes.values() if s.kind == kind), key=lambda s: s.name
            )
            if items:
                groups.append((label, items))
        text = self.parts.renderer.render(
            "schemes_list.j2", schemes=self.parts.kb.schemes, groups=groups
        )
        rows = [
            [Button(s.short_name, Action(Kind.fiche, s.id))] for _, items in groups for s in items
        ]
        rows.append([Button(button("resume"), Action(Kind.current))])
        return Reply(text, rows)

    def listing(self, session: Session) -> Turn:
        return Turn(session, [self.schemes_list(session)], False)

    def lookup(self, session: Session, query: str) -> Turn:
        """A scheme named by a typed text: its fiche, or the closest names to choose from."""
        result = self.parts.search.search(query)
        if result.found is not None:
            return Turn(session, self.fiche(result.found, session), False)
        text = self.parts.renderer.render("search.j2", result=result)
        buttons = [[Button(s.name, Action(Kind.fiche, s.id))] for s in result.suggestions]
        buttons.append([Button(button("all_fiches"), Action(Kind.schemes))])
        return Turn(session, [Reply(text, buttons)], False)

    def open(self, session: Session, scheme_id: str, current: list[Reply]) -> Turn:
        """A fiche's button; `current` is where the person is, shown if the fiche is gone."""
        scheme = self.parts.kb.schemes.get(scheme_id)
        if scheme is None:
            notice = self.parts.notice("unknown_scheme")
            return Turn(session, [Reply(notice), *current], False)
        return Turn(session, self.fiche(scheme, session), False)
