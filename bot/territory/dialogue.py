"""The place of the project, and who can help there: contacts and funders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.dialogue.parts import Parts, Screen, short
from bot.leads.partners import Organisation
from bot.orientation.dialogue import OrientationDialogue
from bot.orientation.engine import NO_PLACE, Session, State
from bot.screens.labels import button
from bot.screens.render import split_reply
from bot.screens.views import Action, Button, Kind, Missed, Reply, Turn
from bot.territory.routing import Match, effective_profile
from knowledge.loader import normalize

#: how many website buttons and « être mis en relation » buttons a routing screen carries
MAX_LINKS, MAX_PARTNERS = 6, 3
#: contacts and funders shown first (the rest behind « Voir plus »), and the message size
FIRST_CONTACTS, FIRST_FUNDERS, MESSAGE_LIMIT = 3, 2, 2500
#: how much of a typed place is quoted back
QUOTE = 60


#: the `question` of a place button proposed during a question: keep it for the end
LATER = "later"


def _answers(row: list[Button]) -> bool:
    return any(b.action is not None and b.action.kind is Kind.answer for b in row)


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
            text=short(text or "", QUOTE),
            resolution=resolution,
        )
        rows: list[list[Button]] = []
        if resolution is not None and status in ("ambiguous", "approximate"):
            rows = [[Button(c.label, Action(Kind.place, c.key))] for c in resolution.candidates]
        if status == "not_found":  # the régions, two by two: a tap instead of a guess
            regions = [
                Button(name, Action(Kind.place, f"r:{code}"))
                for code, name in sorted(geo.regions.items(), key=lambda kv: normalize(kv[1]))
            ]
            rows = [regions[i : i + 2] for i in range(0, len(regions), 2)]
        rows.append([Button(button("skip_place"), Action(Kind.place, NO_PLACE))])
        return Reply(body, rows)

    def ask_place(self, state: State) -> Turn:
        new = Session(state.session.answers, None, True)
        return Turn(new, [self.place_prompt()], True)

    def set_place(self, state: State, key: str, pressed: bool = False, later: bool = False) -> Turn:
        """`pressed`: from a button, which only applies while the place is asked (an old
        « Passer cette étape » must not erase a place given since); `later`: the button of
        a place proposed during a question (`propose_place`), kept for the end."""
        session = state.session
        asked = session.asking_place or (state.finished and session.place is None)
        place = self.parts.geo.from_key(key) if key != NO_PLACE else None
        if later and pressed and place is not None and state.question is not None:
            new = Session(session.answers, key, False)
            noted = self.parts.renderer.render("place_later.j2", status="noted", label=place.label)
            new_state = self.parts.engine.state(new)
            return Turn(new, [Reply(noted), self.orientation.question_reply(new_state)], True)
        if (key != NO_PLACE and place is None) or (pressed and not asked) or later:
            return self.parts.stale(state, self.screen)
        new = Session(session.answers, key, False)
        new_state = self.parts.engine.state(new)
        replies: list[Reply] = []
        if key != NO_PLACE or new_state.finished:
            replies += [
                part
                for reply in self.routing_replies(new_state)
                for part in split_reply(reply, MESSAGE_LIMIT)
            ]
        if new_state.question is not None:  # asked mid-orientation: carry on where it was
            replies.append(self.orientation.question_reply(new_state))
        return Turn(new, replies, True)

    def propose_place(self, state: State, text: str) -> Turn | None:
        """A place typed while a question is asked (« Colombelles »): proposed as the
        project's place with a button, the question asked again; never taken on its own.
        None when the text is no exact place (or a number, which reads as an answer)."""
        if state.question is None or (text.strip().isdigit() and len(text.strip()) <= 3):
            return None
        best = self.parts.geo.resolve(text).best
        if best is None or best.key == state.session.place:
            return None
        body = self.parts.renderer.render(
            "place_later.j2", status="proposed", text=short(text, QUOTE)
        )
        keep = Action(Kind.place, best.key, LATER, state.session.step)
        question = self.orientation.question_reply(state)
        rows = list(question.buttons)
        # after the answers: their numbers stay the same, the place is the next one
        at = max((i + 1 for i, row in enumerate(rows) if _answers(row)), default=0)
        rows.insert(at, [Button(button("keep_place", place=best.label), keep)])
        reply = Reply(f"{body}\n\n{question.text}", rows)
        return Turn(state.session, [reply], False)

    def typed_place(self, state: State, text: str) -> Turn:
        """A typed place: taken when exact, proposed when close, never substituted."""
        resolution = self.parts.geo.resolve(text)
        best = resolution.best
        if best is not None:
            return self.set_place(state, best.key)
        reply = self.place_prompt(text, resolution.status)
        if resolution.status == "not_found":
            return Turn(state.session, [reply], False, effects=[Missed("place")])
        return Turn(state.session, [reply], False)

    def contacts(self, state: State, only: str | None = None, more: bool = False) -> Turn:
        """`contacts` / `financements`: who can help near the project (asks the place first);
        `more`: every contact, not only the most relevant."""
        if state.session.place is None or state.session.place == NO_PLACE:
            return self.ask_place(state)
        replies = self.routing_replies(state, only, more)  # paged, between contacts
        parts = [part for reply in replies for part in split_reply(reply, MESSAGE_LIMIT)]
        return Turn(state.session, parts, False)

    def routing_replies(
        self, state: State, only: str | None = None, more: bool = False
    ) -> list[Reply]:
        """« Près de chez vous » (its own short message), then who can help, with the buttons;
        `more`: every contact, not only the most relevant."""
        nearby = self.nearby_reply(state) if only != "funders" and not more else None
        return [*([nearby] if nearby else []), self.routing_reply(state, only, more)]

    def nearby_reply(self, state: State) -> Reply | None:
        """What already runs near the place, the open aids, the Région's ESS service."""
        place = self.parts.geo.from_key(state.session.place or "")
        if place is None:
            return None
        recommended: list[str] = []
        if state.finished:
            recommended = [r.scheme.id for r in self.parts.engine.result(state).recommended]
        view = self.parts.nearby.find(
            place,
            effective_profile(state.facts),
            state.facts.get("stage"),
            recommended,
            state.facts,
        )
        return Reply(self.parts.renderer.render("nearby.j2", nearby=view))

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

    def routing_reply(self, state: State, only: str | None = None, more: bool = False) -> Reply:
        place = self.parts.geo.from_key(state.session.place or "")
        recommended: list[str] = []
        if state.finished:
            result = self.parts.engine.result(state)
            # « pistes à explorer » (nothing reached the threshold): their contacts, too
            recommended = [r.scheme.id for r in result.recommended] or [
                a.scheme.id for a in result.leads
            ]
        routing = self.parts.router.route(
            place,
            effective_profile(state.facts),
            state.facts.get("stage"),
            recommended,
        )
        hidden = 0
        if not more:  # the most relevant first, with why; the rest one tap away
            hidden = max(len(routing.contacts) - FIRST_CONTACTS, 0)
            hidden += max(len(routing.funders) - FIRST_FUNDERS, 0) if only != "funders" else 0
            routing = replace(
                routing,
                contacts=routing.contacts[:FIRST_CONTACTS],
                funders=routing.funders if only == "funders" else routing.funders[:FIRST_FUNDERS],
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
        if hidden:
            rows.append([Button(button("more_contacts"), Action(Kind.contacts, "more"))])
        rows.append([Button(button("change_place"), Action(Kind.change_place))])
        if state.finished and only is None:  # the last screen: share what it concludes
            rows.append([Button(button("share"), Action(Kind.share, step=state.session.step))])
        return Reply(text, rows)
