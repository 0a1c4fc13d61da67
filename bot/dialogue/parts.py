"""What every feature dialogue shares: the knowledge base, its engine, the renderer…

A feature dialogue (orientation, fiches, territory, lead form, partner desk, privacy) is a
small class built on `Parts`. The router (`bot.dialogue.router`) builds them all once per
knowledge base and hands each typed text or button to the one that handles it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.leads.partners import Partners
from bot.orientation.engine import Engine, Session, State
from bot.orientation.search import SchemeSearch
from bot.screens.labels import button
from bot.screens.render import Renderer
from bot.screens.views import Action, Button, Kind, Reply, Turn
from bot.territory.geography import Geography
from bot.territory.nearby import NearbyFinder
from bot.territory.routing import Router
from knowledge.loader import KnowledgeBase

#: what shows where the person is (a question, or the result and what follows it)
Screen = Callable[[Session | State], list[Reply]]


@dataclass
class Parts:
    kb: KnowledgeBase
    renderer: Renderer = field(default_factory=Renderer)
    geo: Geography = field(default_factory=Geography)
    partners: Partners = field(default_factory=Partners)
    retention_days: int = 180
    lead_retention_days: int = 365
    engine: Engine = field(init=False)
    search: SchemeSearch = field(init=False)
    router: Router = field(init=False)
    nearby: NearbyFinder = field(init=False)

    def __post_init__(self) -> None:
        self.engine = Engine(self.kb)
        self.search = SchemeSearch(self.kb)
        self.router = Router(self.kb, self.geo)
        self.nearby = NearbyFinder(self.kb)

    def state(self, session_or_state: Session | State) -> State:
        if isinstance(session_or_state, State):
            return session_or_state
        return self.engine.state(session_or_state)

    def notice(self, kind: str, **context: object) -> str:
        """A one-line notice (stale button, restarted…), from notice.j2."""
        return self.renderer.render("notice.j2", kind=kind, **context)

    def resume_button(self, state: State) -> Button:
        """Back to where the person is: the orientation, its question, or its result."""
        if not state.session.step:
            return Button(button("start"), Action(Kind.current))
        return Button(button("see_result" if state.finished else "resume"), Action(Kind.current))

    def stale(self, state: State, screen: Screen) -> Turn:
        """A button that no longer applies: say so, and show where the person is."""
        text = self.notice("stale")
        return Turn(state.session, [Reply(text), *screen(state)], False, notice=text)


def short(label: str, limit: int = 48) -> str:
    """A button label that fits on a phone, cut at a word with an ellipsis."""
    if len(label) <= limit:
        return label
    return label[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,(") + "…"
