"""The orientation engine: pure and deterministic, no I/O.

A session is the ordered log of answers. Everything else (the current question, the
progress, the facts collected, the result and its trace) is derived from it by replaying
the log over the decision tree. Back pops the last answer; restart clears the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from knowledge.loader import KnowledgeBase
from knowledge.schema import RESULT, Option, Question, Scheme

SESSION_FORMAT = 1


class EngineError(Exception):
    """An answer the engine cannot take (stale or forged)."""


class StaleAnswer(EngineError):
    """The answer is for a question that is not the current one."""


class UnknownOption(EngineError):
    """The option does not exist for the current question."""


#: `Session.place` when the person chose not to say where the project is
NO_PLACE = "-"


@dataclass(frozen=True)
class Session:
    answers: tuple[tuple[str, str], ...] = ()
    place: str | None = None  # where the project is: "c:14167", "d:62", "r:32" or NO_PLACE
    asking_place: bool = False  # the next typed text is a territory
    #: a request to be put in touch, being filled in (organisation, stage, name, contact…);
    #: any other change of the session drops it
    form: tuple[tuple[str, str], ...] = ()
    #: the buttons of the last list the person saw (encoded actions): a typed number or
    #: « oui » refers to it, in every channel; any other change of the session redraws it
    offer: tuple[str, ...] = ()

    def to_json(self) -> str:
        data: dict[str, object] = {"v": SESSION_FORMAT, "a": [list(a) for a in self.answers]}
        if self.place is not None:
            data["t"] = self.place
        if self.asking_place:
            data["q"] = 1
        if self.form:
            data["f"] = dict(self.form)
        if self.offer:
            data["o"] = list(self.offer)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.form)

    def with_form(self, **changes: str | None) -> Session:
        """The same session with form fields changed (None removes one)."""
        fields = self.fields
        for key, value in changes.items():
            if value is None:
                fields.pop(key, None)
            else:
                fields[key] = value
        return Session(self.answers, self.place, self.asking_place, tuple(sorted(fields.items())))

    @classmethod
    def from_json(cls, raw: str | None) -> Session:
        """Parse a stored session; anything unreadable gives an empty session."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            pairs = tuple((str(q), str(v)) for q, v in data["a"])
            place = data.get("t")
            place = str(place) if place is not None else None
            asking = bool(data.get("q"))
            form = tuple(sorted((str(k), str(v)) for k, v in (data.get("f") or {}).items()))
            offer = tuple(str(o) for o in data.get("o") or ())[:20]
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls()
        return cls(pairs, place, asking, form, offer)

    def with_answers(self, answers: tuple[tuple[str, str], ...]) -> Session:
        return Session(answers, self.place, self.asking_place)

    @property
    def step(self) -> int:
        return len(self.answers)


@dataclass(frozen=True)
class Given:
    """One answer, resolved against the tree."""

    question: Question
    option: Option


@dataclass(frozen=True)
class Reason:
    text: str
    points: int
    question: str  # the question's short label
    answer: str  # the option's label
    exclude: bool = False


@dataclass
class Recommendation:
    scheme: Scheme
    score: int
    reasons: list[Reason] = field(default_factory=list)  # in favour
    cautions: list[Reason] = field(default_factory=list)  # against, but not decisive


@dataclass
class Alternative:
    scheme: Scheme
    score: int
    why_not: list[Reason]
    reasons: list[Reason]
    excluded: bool
    overflow: bool  # would be recommended but the list is full


@dataclass
class Result:
    recommended: list[Recommendation]
    alternatives: list[Alternative]
    open_points: list[str]  # what the person did not know, or notes to clarify
    facts: dict[str, str | None]

    @property
    def unmet(self) -> bool:
        """No scheme fits: counted as unmet demand."""
        return not self.recommended


@dataclass
class State:
    session: Session  # the valid part of the log (answers the tree no longer has are dropped)
    given: list[Given]
    question: Question | None
    number: int  # 1-based number of the current question
    total: int  # answered + longest remaining path: never under-promises
    facts: dict[str, str | None]
    dropped: int = 0  # answers dropped because the knowledge base changed

    @property
    def finished(self) -> bool:
        return self.question is None


class Engine:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.start = kb.questions[kb.tree.settings.start]

    # --------------------------------------------------------------- derive

    def state(self, session: Session) -> State:
        questions = self.kb.questions
        current: Question | None = self.start
        given: list[Given] = []
        facts: dict[str, str | None] = {}
        kept = 0
        for qid, value in session.answers:
            if current is None or qid != current.id:
                break
            option = current.option(value)
            if option is None:
                break
            given.append(Given(current, option))
            facts[current.fact] = None if option.unknown else option.value
            kept += 1
            nxt = current.next_of(option)
            current = None if nxt == RESULT or nxt is None else questions[nxt]
        valid = (
            session
            if kept == len(session.answers)
            else session.with_answers(session.answers[:kept])
        )
        remaining = self.kb.remaining_depth[current.id] if current is not None else 0
        return State(
            session=valid,
            given=given,
            question=current,
            number=kept + 1,
            total=kept + remaining,
            facts=facts,
            dropped=len(session.answers) - kept,
        )

    def result(self, state: State) -> Result:
        scores: dict[str, int] = {}
        pros: dict[str, list[Reason]] = {}
        cons: dict[str, list[Reason]] = {}
        excluded: set[str] = set()
        open_points: list[str] = []
        for g in state.given:
            if g.option.unknown:
                open_points.append(g.option.note or f"{g.question.short} : à préciser")
            elif g.option.note:
                open_points.append(g.option.note)
            for eff in g.option.effects:
                reason = Reason(
                    eff.reason, eff.points, g.question.short, g.option.label, eff.exclude
                )
                scores[eff.scheme] = scores.get(eff.scheme, 0) + eff.points
                if eff.exclude:
                    excluded.add(eff.scheme)
                    cons.setdefault(eff.scheme, []).append(reason)
                elif eff.points > 0:
                    pros.setdefault(eff.scheme, []).append(reason)
                else:
                    cons.setdefault(eff.scheme, []).append(reason)

        settings = self.kb.tree.settings
        schemes = self.kb.schemes

        def rank(sid: str) -> tuple[int, int, str]:
            return (-scores.get(sid, 0), -len(pros.get(sid, [])), schemes[sid].name)

        eligible = sorted(
            (
                sid
                for sid, s in scores.items()
                if s >= settings.recommend_threshold and sid not in excluded
            ),
            key=rank,
        )
        chosen = eligible[: settings.max_results]
        for reasons in pros.values():  # strongest reason first (stable: answer order on ties)
            reasons.sort(key=lambda r: -r.points)
        recommended = [
            Recommendation(schemes[sid], scores[sid], pros.get(sid, []), cons.get(sid, []))
            for sid in chosen
        ]
        overflow = eligible[settings.max_results :]
        # close alternatives: had something in their favour, or were explicitly ruled out
        others = sorted(
            (
                sid
                for sid in scores
                if sid not in chosen
                and sid not in overflow
                and (pros.get(sid) or sid in excluded or cons.get(sid))
            ),
            key=lambda sid: (-sum(r.points for r in pros.get(sid, [])), *rank(sid)),
        )
        alternatives = [
            Alternative(
                schemes[sid],
                scores.get(sid, 0),
                cons.get(sid, []),
                pros.get(sid, []),
                excluded=sid in excluded,
                overflow=sid in overflow,
            )
            for sid in [*overflow, *others][: settings.max_alternatives]
        ]
        return Result(recommended, alternatives, open_points, dict(state.facts))

    # --------------------------------------------------------------- change

    def answer(self, session: Session, question_id: str, value: str) -> Session:
        """Append an answer to the current question; refuse stale or unknown answers."""
        state = self.state(session)
        if state.question is None or state.question.id != question_id:
            raise StaleAnswer(question_id)
        if state.question.option(value) is None:
            raise UnknownOption(value)
        return state.session.with_answers((*state.session.answers, (question_id, value)))

    @staticmethod
    def back(session: Session) -> Session:
        """Pop the last answer (the territory, asked separately, is kept)."""
        return Session(session.answers[:-1], session.place)

    @staticmethod
    def restart() -> Session:
        return Session()

    def preset(self, fact: str, value: str) -> Session:
        """A session whose first answer is given (deep links such as ?start=collectivite)."""
        if self.start.fact == fact and self.start.option(value) is not None:
            return Session(((self.start.id, value),))
        raise UnknownOption(value)
