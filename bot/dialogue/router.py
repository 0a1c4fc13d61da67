"""The dialogue, channel-agnostic: a session and an input in, a new session and replies out.

Every channel (console, Telegram) calls this and only draws what comes back, so Boussole
behaves the same everywhere. This module only routes: a button or a typed text goes to the
feature dialogue that handles it (orientation, fiches, territory, lead form, privacy,
other input), each in its own module with its own templates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.dialogue.commands import COMMANDS, Typed, command_of
from bot.dialogue.other import OtherInput
from bot.dialogue.parts import Parts
from bot.dialogue.privacy import PrivacyDialogue
from bot.leads.dialogue import CANCEL_WORDS, LeadDialogue
from bot.leads.partner_dialogue import PartnerDialogue
from bot.leads.partners import Operator, Partners
from bot.leads.store import Lead
from bot.orientation.dialogue import OrientationDialogue
from bot.orientation.engine import Engine, EngineError, Session, State
from bot.orientation.fiches import FichesDialogue
from bot.screens.render import Renderer
from bot.screens.views import Action, Kind, Reply, Turn
from bot.territory.dialogue import TerritoryDialogue
from bot.territory.geography import Geography
from knowledge.loader import KnowledgeBase, normalize
from knowledge.schema import Scheme

#: actions whose new screen may replace the message that carried the button
_EDITING = {Kind.answer, Kind.back, Kind.place}

Handler = Callable[[State, Action], Turn]


class Conversation:
    def __init__(
        self,
        kb: KnowledgeBase,
        renderer: Renderer | None = None,
        geo: Geography | None = None,
        retention_days: int = 180,
        partners: Partners | None = None,
        lead_retention_days: int = 365,
    ) -> None:
        self.parts = Parts(
            kb,
            renderer or Renderer(),
            geo or Geography(),
            partners or Partners(),
            retention_days,
            lead_retention_days,
        )
        self.orientation = OrientationDialogue(self.parts, self.screen)
        self.fiches = FichesDialogue(self.parts)
        self.territory = TerritoryDialogue(self.parts, self.orientation, self.screen)
        self.leads = LeadDialogue(self.parts, self.screen, self.territory.offered)
        self.partner = PartnerDialogue(self.parts.renderer, self.parts.partners)
        self.privacy = PrivacyDialogue(self.parts, self.screen)
        self.other = OtherInput(self.parts, self.screen)
        o, t = self.orientation, self.territory
        self._actions: dict[Kind, Handler] = {
            Kind.answer: o.answer,
            Kind.back: lambda s, a: o.back(s),
            Kind.restart: lambda s, a: o.restart(),
            Kind.help: lambda s, a: o.help(s, a.question),
            Kind.fiche: lambda s, a: self.fiches.open(s.session, a.arg, self.screen(s)),
            Kind.schemes: lambda s, a: Turn(
                s.session, [self.fiches.schemes_list(s.session)], False
            ),
            Kind.place: lambda s, a: t.set_place(s, a.arg),
            Kind.change_place: lambda s, a: t.ask_place(s),
            Kind.contacts: lambda s, a: t.contacts(s),
            Kind.funders: lambda s, a: t.contacts(s, only="funders"),
            Kind.privacy: lambda s, a: self.privacy.privacy(s),
            Kind.forget: lambda s, a: self.privacy.forget(s, a.arg),
        }

    # the parts channels and desks read
    @property
    def kb(self) -> KnowledgeBase:
        return self.parts.kb

    @property
    def renderer(self) -> Renderer:
        return self.parts.renderer

    @property
    def geo(self) -> Geography:
        return self.parts.geo

    @property
    def partners(self) -> Partners:
        return self.parts.partners

    @property
    def engine(self) -> Engine:
        return self.parts.engine

    @property
    def retention_days(self) -> int:
        return self.parts.retention_days

    @property
    def lead_retention_days(self) -> int:
        return self.parts.lead_retention_days

    @property
    def consent_version(self) -> str:
        return self.leads.consent_version

    command_of = staticmethod(command_of)

    # ------------------------------------------------------------------ entry points

    def welcome(self, session: Session, payload: str = "") -> Turn:
        """/start: greet, honour a deep link, resume a conversation in progress."""
        replies = [Reply(self.renderer.render("welcome.j2"))]
        payload = normalize(payload).replace(" ", "_")
        if payload.startswith("fiche_"):
            found = self.parts.search.search(payload.removeprefix("fiche_").replace("_", " "))
            if found.found is not None:
                return Turn(session, [*replies, *self.fiche(found.found, session)], False)
        if payload:
            try:
                fresh = self.engine.preset(self.engine.start.fact, payload)
            except EngineError:
                fresh = None
            if fresh is not None:
                return Turn(fresh, [*replies, *self.screen(fresh)], True)
        state = self.engine.state(session)
        if state.dropped:
            notice = self.parts.notice("dropped")
            return Turn(state.session, [*replies, Reply(notice), *self.screen(state)], True)
        if state.session.step:
            notice = self.parts.notice("resumed", count=state.session.step)
            return Turn(state.session, [*replies, Reply(notice), *self.screen(state)], False)
        return Turn(state.session, [*replies, *self.screen(state)], False)

    def handle_action(
        self, session: Session, action: Action | None, operator: Operator | None = None
    ) -> Turn:
        """A button press; `None` is a button that could not be read (forged or outdated).
        `operator`: the person pressing is an operator of a partner organisation, who
        qualifies a lead on behalf of someone they met."""
        state = self.engine.state(session)
        if action is None:
            return self.parts.stale(state, self.screen)
        if action.kind is Kind.lead:
            turn = self.leads.action(state, action.arg, operator)
        else:
            turn = self.orientation.counted(state, self._action(state, action))
        if action.kind in _EDITING and turn.changed:
            return replace(turn, edit=True)
        return turn

    def _action(self, state: State, action: Action) -> Turn:
        if action.step is not None and action.step != state.session.step:
            return self.orientation.stale(state, action)
        handler = self._actions.get(action.kind)
        if handler is None:  # `current`, and views a channel answers itself
            return Turn(state.session, self.screen(state), False)
        return handler(state, action)

    def handle_text(self, session: Session, text: str) -> Turn:
        state = self.engine.state(session)
        typed = Typed.read(text)
        raw, norm = typed.raw, typed.norm
        stage = self.leads.typing(state.session)
        if stage is not None and norm not in COMMANDS:
            if norm in CANCEL_WORDS:
                return self.leads.action(state, "cancel")
            return self.leads.typed(state, stage, text)  # whole: a long text is refused
        if norm in CANCEL_WORDS and state.session.form:
            return self.leads.action(state, "cancel")
        if not norm:
            if raw in ("?", "/?"):
                return self.orientation.help(state)
            return self.orientation.not_understood(state, raw, [], empty=not raw)
        if typed.command is not None:
            return self.handle_action(state.session, Action(typed.command))
        first, rest = typed.words
        if first == "fiche" and rest:
            return self.fiches.lookup(state.session, rest)
        if first == "fiche":
            return self.fiches.listing(state.session)
        if state.session.asking_place or (state.finished and state.session.place is None):
            return self.territory.typed_place(state, raw)
        if state.question is not None:
            return self.orientation.typed(state, raw)
        # the orientation is over: a typed word is most likely a scheme name
        return self.fiches.lookup(state.session, raw)

    # ------------------------------------------------------------------ views

    def screen(self, session_or_state: Session | State) -> list[Reply]:
        """What shows where the person is: a question, or the result and what follows."""
        state = self.parts.state(session_or_state)
        if state.session.asking_place:
            return [self.territory.place_prompt()]
        if state.question is not None:
            return [self.orientation.question_reply(state)]
        if state.session.place is None:
            follow = self.territory.place_prompt()
        else:
            follow = self.territory.routing_reply(state)
        return [self.orientation.result_reply(state), follow]

    # what the channels call besides texts and buttons (the other feature dialogues answer)

    def edited(self, session: Session) -> Turn:
        return self.other.edited(session)

    def group_invite(self, private_link: str) -> Reply:
        return self.other.group_invite(private_link)

    def group_notice(self) -> str:
        return self.other.group_notice()

    def fiche(self, scheme: Scheme, session: Session) -> list[Reply]:
        return self.fiches.fiche(scheme, session)

    def my_data(self, session: Session, leads: Sequence[Lead]) -> Turn:
        return self.privacy.my_data(session, leads)
