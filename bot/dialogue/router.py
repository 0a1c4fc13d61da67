"""The dialogue, channel-agnostic: a session and an input in, a new session and replies out.

Every channel (console, Telegram) calls this and only draws what comes back, so Boussole
behaves the same everywhere. This module only routes: a button or a typed text goes to the
feature dialogue that handles it (orientation, fiches, territory, lead form, privacy,
other input), each in its own module with its own templates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.dialogue.commands import COMMANDS, YES_WORDS, Typed, command_of
from bot.dialogue.other import OtherInput
from bot.dialogue.parts import Parts
from bot.dialogue.privacy import PrivacyDialogue
from bot.dialogue.typed import TypedDialogue
from bot.leads.dialogue import CANCEL_WORDS, LeadDialogue
from bot.leads.partner_dialogue import PartnerDialogue
from bot.leads.partners import Operator, Partners
from bot.leads.store import Lead
from bot.orientation.compare import Comparison
from bot.orientation.dialogue import OrientationDialogue
from bot.orientation.engine import NO_PLACE, Engine, EngineError, Session, State
from bot.orientation.fiches import FichesDialogue
from bot.screens.render import Renderer, split_reply
from bot.screens.views import Action, Kind, Reply, Turn, decode_action, encode_action, listed
from bot.territory.dialogue import LATER, TerritoryDialogue
from bot.territory.geography import Geography
from knowledge.loader import KnowledgeBase, normalize
from knowledge.schema import Scheme

#: typed words for « Passer cette étape » while the place is asked
SKIP_WORDS = frozenset({"passer", "passer cette etape", "sans lieu"})

#: the longest message the dialogue sends (Telegram allows 4096; a phone screen, less)
MESSAGE_LIMIT = 2500
#: how many screens' lists are remembered (a few per chat being served)
SCREEN_MEMORY = 2048

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
        #: the numbered list of the screens drawn lately, by session (see _screen_offer)
        self._screen_lists: dict[Session, tuple[str, ...]] = {}
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
        self.comparison = Comparison(self.parts)
        self.typed = TypedDialogue(
            self.parts,
            self.screen,
            self.orientation,
            self.fiches,
            self.territory,
            self.comparison,
            self._action,
        )
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
            Kind.place: lambda s, a: t.set_place(s, a.arg, True, a.question == LATER),
            Kind.change_place: lambda s, a: t.ask_place(s),
            Kind.contacts: lambda s, a: t.contacts(s, more=a.arg == "more"),
            Kind.compare: lambda s, a: self.comparison.by_ids(s.session, a.arg),
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
        turn = self._offered(session, self._welcome(session, payload))
        if turn.session == Session():  # remembered: a sentence typed next is no first message
            offer = self._screen_offer(turn.session)
            turn = replace(turn, session=replace(turn.session, offer=offer), changed=True)
        return turn

    def _welcome(self, session: Session, payload: str = "") -> Turn:
        welcome = self.renderer.render("welcome.j2", retention_days=self.retention_days)
        replies = [Reply(welcome)]
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
        if state.finished:  # briefly: the result is one tap away, not posted again
            notice = self.parts.notice("resumed", count=state.session.step)
            resume = [[self.parts.resume_button(state)]]
            return Turn(state.session, [*replies, Reply(notice, resume)], False)
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
        return self._offered(session, self._handle_action(session, action, operator))

    def _handle_action(
        self, session: Session, action: Action | None, operator: Operator | None = None
    ) -> Turn:
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
        turn = self._handle_text(session, text)
        typed_sentence = command_of(text) is None and not text.strip().startswith("/")
        if session == Session() and typed_sentence and not turn.erase:
            turn = self._first_message(session, turn)
        return self._offered(session, turn)

    def _first_message(self, session: Session, turn: Turn) -> Turn:
        """A sentence typed before /start: the welcome and the first question, with what
        the sentence already told."""
        welcome = Reply(self.renderer.render("welcome.j2", retention_days=self.retention_days))
        after = self.parts.state(turn.session)
        screen = self.screen(after)
        shown = {r.text for r in turn.replies}
        missing = [r for r in screen if r.text not in shown] if after.question else []
        return replace(turn, replies=[welcome, *turn.replies, *missing[:1]], edit=False)

    def _offered(self, before: Session, turn: Turn) -> Turn:
        """Remember the last list the person saw, when it is not the one of the screen
        where they are (suggestions, a fiche's sections, places to choose from…): a
        typed number or « oui » refers to it."""
        if turn.erase:
            return turn
        actions = listed(turn.replies)
        if actions is None:  # nothing new to choose from: the last list is still the one
            offer = before.offer
        else:
            offer = tuple(encode_action(a) for a in actions)
            if offer == self._screen_offer(turn.session):
                offer = ()
        if turn.session.offer == offer:
            return turn
        return replace(turn, session=replace(turn.session, offer=offer), changed=True)

    def _screen_offer(self, session: Session) -> tuple[str, ...]:
        """The list of the screen where the person is (drawn once: the step that drew it
        remembered it)."""
        key = replace(session, offer=())
        if key not in self._screen_lists:
            self.screen(key)
        return self._screen_lists[key]

    def _pressed(self, session: Session, norm: str) -> Action | None:
        """The button a typed number or « oui » presses in the last list shown, if any."""
        offer = session.offer or self._screen_offer(session)
        if norm.isdigit() and offer and 1 <= int(norm) <= len(offer):
            return decode_action(offer[int(norm) - 1])
        if norm in YES_WORDS and len(offer) == 1:
            return decode_action(offer[0])
        return None

    def _handle_text(self, session: Session, text: str) -> Turn:
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
            return self._handle_action(state.session, Action(typed.command))
        pressed = self._pressed(state.session, norm)
        if pressed is not None:
            return self._handle_action(state.session, pressed)
        if norm in SKIP_WORDS and (state.session.asking_place or state.finished):
            return self._handle_action(state.session, Action(Kind.place, NO_PLACE))
        first, rest = typed.words
        if first == "fiche" and rest:
            return self.fiches.lookup(state.session, rest)
        if first == "fiche":
            return self.fiches.listing(state.session)
        if first in ("comparer", "compare", "comparaison"):
            found = self.typed.understanding.schemes_named(
                self.typed.understanding.reader.read(rest)
            )
            return self.comparison.compare(state.session, found)
        return self.typed.typed(state, raw)

    # ------------------------------------------------------------------ views

    def screen(self, session_or_state: Session | State) -> list[Reply]:
        """What shows where the person is: a question, or the result and what follows."""
        state = self.parts.state(session_or_state)
        replies = self._screen(state)
        # remembered: the list it numbers is what a typed number means (see _offered)
        key = replace(state.session, offer=())
        self._screen_lists[key] = tuple(encode_action(a) for a in listed(replies) or [])
        if len(self._screen_lists) > SCREEN_MEMORY:
            del self._screen_lists[next(iter(self._screen_lists))]
        return replies

    def _screen(self, state: State) -> list[Reply]:
        if state.session.asking_place:
            return [self.territory.place_prompt()]
        if state.question is not None:
            return [self.orientation.question_reply(state)]
        if state.session.place is None:
            follow = [self.territory.place_prompt()]
        else:
            follow = self.territory.routing_replies(state)
        # a long result comes in messages that fit a phone, split between its paragraphs
        result = self.orientation.result_reply(state)
        parts = [*split_reply(result, MESSAGE_LIMIT)]
        return parts + [part for reply in follow for part in split_reply(reply, MESSAGE_LIMIT)]

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
