"""Fiches: one scheme explained, the list of them all, and finding one by its name."""

from __future__ import annotations

from collections.abc import Sequence

from bot.dialogue.parts import Parts
from bot.orientation.compare import cut
from bot.orientation.engine import Session, State
from bot.screens.labels import AUDIENCE_LABELS, KIND_LABELS, MONEY_LABELS, button, group
from bot.screens.render import split_message
from bot.screens.views import Action, Button, Kind, Reply, Turn
from bot.territory.routing import effective_profile
from knowledge.schema import Scheme

#: a message longer than this is split (a section the person asked for), at an item
MESSAGE_LIMIT = 2500
#: how long the short view's first step and warning may be, and how many helpers it names
STEP_LIMIT, WARNING_LIMIT, HELPERS = 180, 160, 2
SECTION_LABELS = group("fiche_sections")


class FichesDialogue:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def fiche(self, scheme: Scheme, session: Session) -> list[Reply]:
        """A fiche's short view: what it is, for whom, the first step, who helps near the
        person; its sections are one tap away."""
        state = self.parts.engine.state(session)
        helpers, near = self._helpers(scheme, state)
        text = self.parts.renderer.render(
            "scheme_short.j2",
            s=scheme,
            warning=cut(scheme.caution.text, WARNING_LIMIT) if scheme.caution else None,
            audiences=", ".join(AUDIENCE_LABELS[a] for a in scheme.for_whom),
            first_step=cut(scheme.first_steps[0], STEP_LIMIT),
            helpers=helpers,
            near=near,
        )
        rows = self._section_rows(scheme, session)
        nearby = self.nearby(scheme, session)
        if nearby:  # its own short message, after the short view, with the buttons
            return [Reply(text), Reply(nearby, rows)]
        return [Reply(text, rows)]

    def _helpers(self, scheme: Scheme, state: State) -> tuple[list[str], bool]:
        """Who helps with this scheme: near the person when their place is known."""
        place = self.parts.geo.from_key(state.session.place or "")
        if place is not None:
            routing = self.parts.router.route(
                place, effective_profile(state.facts), state.facts.get("stage"), [scheme.id]
            )
            if routing.local:
                return [m.name for m in routing.contacts[:HELPERS]], True
        return [o.name for o in scheme.support[:HELPERS]], False

    def _sections(self, scheme: Scheme) -> list[str]:
        present = {
            "what": True,
            "legal": bool(scheme.legal_basis),
            "conditions": bool(scheme.conditions),
            "governance": bool(scheme.governance),
            "money": bool(scheme.money),
            "steps": len(scheme.first_steps) > 1,
            "pitfalls": bool(scheme.pitfalls),
            "examples": bool(scheme.examples),
            "support": bool(scheme.support),
            "sources": True,
        }
        return [name for name in SECTION_LABELS if present.get(name)]

    def _section_rows(self, scheme: Scheme, session: Session, but: str = "") -> list[list[Button]]:
        buttons = [
            Button(SECTION_LABELS[name], Action(Kind.fiche, f"{scheme.id}:{name}"))
            for name in self._sections(scheme)
            if name != but
        ]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        rows.append([self.parts.resume_button(self.parts.engine.state(session))])
        return rows

    def section(self, scheme: Scheme, name: str, session: Session) -> list[Reply]:
        """One section of a fiche, in messages that fit a phone (split at an item)."""
        keys = list(scheme.sources)

        def refs(sources: Sequence[str]) -> str:
            nums = [str(keys.index(k) + 1) for k in sources if k in keys]
            return f"[{', '.join(nums)}]" if nums else ""

        text = self.parts.renderer.render(
            "scheme_section.j2",
            s=scheme,
            section=name,
            title=SECTION_LABELS[name],
            refs=refs,
            money_topics=MONEY_LABELS,
        )
        parts = split_message(text, MESSAGE_LIMIT)
        rows = self._section_rows(scheme, session, but=name)
        return [Reply(part, rows if i == len(parts) - 1 else []) for i, part in enumerate(parts)]

    def nearby(self, scheme: Scheme, session: Session) -> str:
        """With a place: what already runs nearby and the open aids for this fiche."""
        place = self.parts.geo.from_key(session.place or "")
        if place is None:
            return ""
        state = self.parts.engine.state(session)
        profile = effective_profile(state.facts)
        stage = state.facts.get("stage")
        view = self.parts.nearby.find(place, profile, stage, [scheme.id], state.facts)
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

    def open(self, session: Session, arg: str, current: list[Reply]) -> Turn:
        """A fiche's button (`scic`, or `scic:conditions` for a section); `current` is
        where the person is, shown if the fiche is gone."""
        scheme_id, _, name = arg.partition(":")
        scheme = self.parts.kb.schemes.get(scheme_id)
        if scheme is None or (name and name not in self._sections(scheme)):
            notice = self.parts.notice("unknown_scheme")
            return Turn(session, [Reply(notice), *current], False)
        if name:
            return Turn(session, self.section(scheme, name, session), False)
        return Turn(session, self.fiche(scheme, session), False)
