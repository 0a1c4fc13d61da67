"""The place of the project, and who can help there: contacts and funders."""

from __future__ import annotations

from collections.abc import Sequence

from bot.dialogue.parts import Parts, Screen, short
from bot.leads.partners import Organisation
from bot.orientation.dialogue import OrientationDialogue
from bot.orientation.engine import NO_PLACE, Session, State
from bot.screens.labels import button
from bot.screens.views import Action, Button, Kind, Reply, Turn
from bot.territory.routing import Match, effective_profile

#: how many website buttons and « être mis en relation » buttons a routing screen carries
MAX_LINKS, MAX_PARTNERS = 6, 3


class TerritoryDialogue:
    def __init__(self, parts: Parts, orientation: OrientationDialogue, screen: Screen) -> None:
        self.parts = parts
        self.orientation = orientation
        self.screen = screen

    def place_prompt(self, text: str | None = None, status: str = "ask") -> Reply:
        geo = self.parts.geo
        resolution = geo.resolve(text) if text is not None else None
        body = self.parts.renderer.render(
            "place.j2",
            status=status,
            text=(text or "")[:80],
            resolution=resolution,
            departements=geo.departement_list() if status == "not_found" else [],
        )
        rows: list[list[Button]] = []
        if resolution is not None and status == "ambiguous":
            rows = [[Button(c.label, Action(Kind.place, c.key))] for c in resolution.candidates]
        rows.append([Button(button("skip_place"), Action(Kind.place, NO_PLACE))])
        return Reply(body, rows)

    def ask_place(self, state: State) -> Turn:
        new = Session(state.session.answers, None, True)
        return Turn(new, [self.place_prompt()], True)

    def set_place(self, state: State, key: str) -> Turn:
        if key != NO_PLACE and self.parts.geo.from_key(key) is None:
            notice = self.parts.notice("stale")
            return Turn(state.session, [Reply(notice), *self.screen(state)], False)
        new = Session(state.session.answers, key, False)
        new_state = self.parts.engine.state(new)
        replies: list[Reply] = []
        if key != NO_PLACE or new_state.finished:
            replies.append(self.routing_reply(new_state))
        if new_state.question is not None:  # asked mid-orientation: carry on where it was
            replies.append(self.orientation.question_reply(new_state))
        return Turn(new, replies, True)

    def typed_place(self, state: State, text: str) -> Turn:
        resolution = self.parts.geo.resolve(text)
        best = resolution.best
        if best is not None:
            return self.set_place(state, best.key)
        return Turn(state.session, [self.place_prompt(text, resolution.status)], False)

    def contacts(self, state: State, only: str | None = None) -> Turn:
        """`contacts` / `financements`: who can help near the project (asks the place first)."""
        if state.session.place is None or state.session.place == NO_PLACE:
            return self.ask_place(state)
        return Turn(state.session, [self.routing_reply(state, only)], False)

    def _partners(self, contacts: Sequence[Match]) -> list[Organisation]:
        """The partner organisations among the contacts shown, as many as are offered."""
        found = (self.parts.partners.for_contact(m.item_id) for m in contacts)
        return [o for o in found if o is not None][:MAX_PARTNERS]

    def offered(self, state: State) -> list[Organisation]:
        """The organisations « Être mis en relation » is offered with, for this result
        and this place (a lead can only go to one of them)."""
        place = self.parts.geo.from_key(state.session.place or "")
        if not state.finished or place is None:
            return []
        recommended = [r.scheme.id for r in self.parts.engine.result(state).recommended]
        routing = self.parts.router.route(
            place, effective_profile(state.facts), state.facts.get("stage"), recommended
        )
        return self._partners(routing.contacts)

    def routing_reply(self, state: State, only: str | None = None) -> Reply:
        place = self.parts.geo.from_key(state.session.place or "")
        recommended: list[str] = []
        if state.finished:
            recommended = [r.scheme.id for r in self.parts.engine.result(state).recommended]
        routing = self.parts.router.route(
            place,
            effective_profile(state.facts),
            state.facts.get("stage"),
            recommended,
        )
        text = self.parts.renderer.render("routing.j2", routing=routing, only=only, place=place)
        rows = [
            [Button(short(button("website", name=m.name)), url=m.website)]
            for m in routing.contacts
            if m.website and only != "funders"
        ][:MAX_LINKS]
        if state.finished and only != "funders":
            partners = self._partners(routing.contacts)
            rows[:0] = [
                [
                    Button(
                        short(button("put_in_touch", organisation=o.name)),
                        Action(Kind.lead, f"start:{o.id}"),
                    )
                ]
                for o in partners
            ]
        rows.append([Button(button("change_place"), Action(Kind.change_place))])
        return Reply(text, rows)
