"""A typed text, wherever the person is: what it means (bot.dialogue.understand) and the
dialogue's answer, the same in every channel.

An answer is recorded only when the text clearly is one; a scheme named shows its fiche
with a way back, two or three a comparison, an intent its answer; while the place is
asked, a text that is none of these is tried as a place; anything else keeps the current
question and is counted (by kind, never its text).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.dialogue.parts import Parts, Screen
from bot.dialogue.understand import Meaning, Understanding
from bot.orientation.compare import Comparison
from bot.orientation.dialogue import OrientationDialogue
from bot.orientation.engine import Session, State
from bot.orientation.fiches import FichesDialogue
from bot.screens.views import Action, Kind, Missed, Reply, Turn
from bot.territory.dialogue import TerritoryDialogue
from knowledge.intents import IntentAction

#: what an intent's action does, as a button would
_INTENT_ACTIONS = {
    IntentAction.current: Kind.current,
    IntentAction.help: Kind.help,
    IntentAction.contacts: Kind.contacts,
    IntentAction.funders: Kind.funders,
    IntentAction.schemes: Kind.schemes,
    IntentAction.restart: Kind.restart,
    IntentAction.privacy: Kind.privacy,
}


class TypedDialogue:
    def __init__(
        self,
        parts: Parts,
        screen: Screen,
        orientation: OrientationDialogue,
        fiches: FichesDialogue,
        territory: TerritoryDialogue,
        comparison: Comparison,
        act: Callable[[State, Action], Turn],
    ) -> None:
        self.parts = parts
        self.screen = screen
        self.orientation = orientation
        self.fiches = fiches
        self.territory = territory
        self.comparison = comparison
        self.act = act
        self.understanding = Understanding(parts.kb)

    def meaning(self, state: State, text: str) -> Meaning:
        question = None if state.session.asking_place else state.question
        return self.understanding.read(text, question)

    def typed(self, state: State, text: str) -> Turn:
        session = state.session
        place_asked = session.asking_place or (state.finished and session.place is None)
        meaning = self.meaning(state, text)
        if meaning.outcome == "answer" and meaning.option is not None and state.question:
            return self.orientation.record(state, meaning.option.value)
        if meaning.outcome == "compare":
            return self.comparison.compare(session, meaning.schemes)
        if meaning.outcome == "scheme":
            return Turn(session, self.fiches.fiche(meaning.schemes[0], session), False)
        if meaning.outcome == "intent" and meaning.intent is not None:
            return self.intent(state, meaning)
        if place_asked:
            return self.territory.typed_place(state, text)
        proposal = self.territory.propose_place(state, text)
        if proposal is not None:
            return proposal
        if state.question is not None:
            turn = self.orientation.not_understood(state, text, meaning.suggestions)
            kind = "suggested" if meaning.suggestions else "question"
            return Turn(turn.session, turn.replies, False, effects=[Missed(kind)])
        turn = self.fiches.lookup(session, text)
        if self.parts.search.search(text).found is None:
            return Turn(turn.session, turn.replies, False, effects=[Missed("after_result")])
        return turn

    def intent(self, state: State, meaning: Meaning) -> Turn:
        match = meaning.intent
        assert match is not None
        intent = match.intent
        answer = Reply(self.parts.renderer.render("intent.j2", answer=intent.answer))
        placed = False
        if intent.takes_place:
            resolution = self.parts.geo.resolve(self.understanding.intents.place_text(match))
            best = resolution.best
            if best is not None:  # « qui peut m'aider en Bretagne ? »: the place is said
                session = Session(state.session.answers, best.key, False)
                state, placed = self.parts.state(session), True
        if intent.action is None:
            answer.buttons = [[self.parts.resume_button(state)]]
            return Turn(state.session, [answer], False)
        kind = _INTENT_ACTIONS[intent.action]
        if kind is Kind.current:
            turn = Turn(state.session, self.screen(state), False)
        else:
            turn = self.act(state, Action(kind))
        return Turn(turn.session, [answer, *turn.replies], turn.changed or placed)
