"""The orientation engine: pure and deterministic, no I/O.

A session is the ordered log of answers. Everything else (the current question, the
progress, the facts collected, the result and its trace) is derived from it by replaying
the log over the decision tree. Back pops the last answer; restart clears the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bot.orientation.settle import Settler
from knowledge.loader import KnowledgeBase
from knowledge.schema import RESULT, Option, Question, Scheme

SESSION_FORMAT = 1
#: answer logs whose derivation is kept (the tree has far fewer distinct prefixes in use)
DERIVED_CACHE = 4096


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


@dataclass(frozen=True)
class Missing:
    """An answer that would have counted for a scheme: to confirm, or that another answer took."""

    question: str  # the question's short label
    answer: str  # the option's label that would count
    points: int
    given: str | None = None  # the answer given instead (None: not asked, or « je ne sais pas »)


@dataclass
class Recommendation:
    scheme: Scheme
    score: int
    reasons: list[Reason] = field(default_factory=list)  # in favour
    cautions: list[Reason] = field(default_factory=list)  # against, but not decisive
    #: the person's structure already exists ("association", "entreprise", "structure"):
    #: the scheme is something to add to it, not a new structure to create
    existing: str | None = None


@dataclass
class Alternative:
    scheme: Scheme
    score: int
    why_not: list[Reason]
    reasons: list[Reason]
    excluded: bool
    overflow: bool  # would be recommended but the list is full
    #: what would confirm it (an answer not given) or the answer given instead of one that counts
    missing: list[Missing] = field(default_factory=list)

    @property
    def held_back(self) -> Missing | None:
        """The answer given instead of one that would have counted for this scheme."""
        return next((m for m in self.missing if m.given is not None), None)

    @property
    def to_confirm(self) -> list[Missing]:
        """Answers not given (not asked, or « je ne sais pas ») that would count for it."""
        return [m for m in self.missing if m.given is None]


@dataclass
class Result:
    recommended: list[Recommendation]
    alternatives: list[Alternative]
    open_points: list[str]  # what the person did not know, or notes to clarify
    facts: dict[str, str | None]
    existing: str | None = None  # see Recommendation.existing

    @property
    def leads(self) -> list[Alternative]:
        """Nothing reached the threshold: the schemes that scored, as leads to explore."""
        if self.recommended:
            return []
        return [a for a in self.alternatives if not a.excluded and a.score > 0]

    @property
    def unmet(self) -> bool:
        """Nothing scored at all (« aucun cadre »): counted as unmet demand."""
        return not self.recommended and not self.leads


@dataclass
class State:
    session: Session  # the valid part of the log (answers the tree no longer has are dropped)
    given: list[Given]
    question: Question | None
    number: int  # 1-based number of the current question
    total: int  # answered + most questions that may still be asked: never under-promises
    facts: dict[str, str | None]
    dropped: int = 0  # answers dropped because the knowledge base changed
    #: questions passed over because no answer to them could change the recommendation
    skipped: list[Question] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.question is None


#: what an answer log gives: given answers, current question, answers kept, progress total,
#: facts, questions passed over
Derived = tuple[
    tuple[Given, ...], Question | None, int, int, dict[str, str | None], tuple[Question, ...]
]


class Engine:
    """Derives states and results from answer logs.

    With `skip` (the default), a question is asked only when one of its answers could still
    change the recommended schemes (which ones are in the first places of the ranking, and
    which is first), whatever the remaining
    answers are; otherwise it is passed over, as if answered « je ne sais pas ». It stops when
    the first `settle` places (SETTLE) can no longer change. The test is
    conservative (score bounds per scheme and per pair of schemes): it may ask a question that
    turns out not to matter, never skip one that could.
    """

    def __init__(self, kb: KnowledgeBase, skip: bool = True, settle: int | None = None) -> None:
        self.kb = kb
        self.skip = skip
        #: what can still change the ranking, from the tree's score bounds (bot.orientation.settle)
        self.settler = Settler(kb, settle)
        self.start = kb.questions[kb.tree.settings.start]
        self._derived: dict[tuple[tuple[str, str], ...], Derived] = {}

    def state(self, session: Session) -> State:
        given, current, kept, total, facts, skipped = self._derive(session.answers)
        valid = (
            session
            if kept == len(session.answers)
            else session.with_answers(session.answers[:kept])
        )
        return State(
            session=valid,
            given=list(given),
            question=current,
            number=kept + 1,
            total=total,
            facts=dict(facts),
            dropped=len(session.answers) - kept,
            skipped=list(skipped),
        )

    def _derive(self, answers_log: tuple[tuple[str, str], ...]) -> Derived:
        """Replay an answer log (cached: a turn derives the same state several times)."""
        cached = self._derived.get(answers_log)
        if cached is not None:
            return cached
        questions = self.kb.questions
        current: Question | None = self.start
        given: list[Given] = []
        skipped: list[Question] = []
        facts: dict[str, str | None] = {}
        scores: dict[str, int] = {}
        excluded: set[str] = set()
        answers = list(answers_log)
        kept = 0

        def settle(q: Question | None) -> Question | None:
            """Pass over the questions no answer to which could change the result."""
            while q is not None and self.skip:
                if self.settler.decisive(q, scores, excluded, self.settler.after_bounds(q.id)):
                    return q
                skipped.append(q)
                nxt = q.next
                q = None if nxt == RESULT or nxt is None else questions[nxt]
            return q

        current = settle(current)
        for qid, value in answers:
            if current is None or qid != current.id:
                break
            option = current.option(value)
            if option is None:
                break
            given.append(Given(current, option))
            facts[current.fact] = None if option.unknown else option.value
            for eff in option.effects:
                scores[eff.scheme] = scores.get(eff.scheme, 0) + eff.points
                if eff.exclude:
                    excluded.add(eff.scheme)
            kept += 1
            nxt = current.next_of(option)
            current = settle(None if nxt == RESULT or nxt is None else questions[nxt])
        if current is None:
            remaining = 0
        elif self.skip:
            remaining = self.settler.most_left(current, scores, excluded)
        else:
            remaining = self.kb.remaining_depth[current.id]
        derived = (tuple(given), current, kept, kept + remaining, facts, tuple(skipped))
        if len(self._derived) >= DERIVED_CACHE:
            self._derived.clear()
        self._derived[answers_log] = derived
        return derived

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
        existing = existing_structure(state.facts)
        recommended = [
            Recommendation(
                schemes[sid], scores[sid], pros.get(sid, []), cons.get(sid, []), existing
            )
            for sid in chosen
        ]
        overflow = eligible[settings.max_results :]
        # close alternatives: only schemes that scored for this person (an answer counted for
        # them), the strongest first
        others = sorted(
            (sid for sid in scores if sid not in chosen and sid not in overflow and pros.get(sid)),
            key=lambda sid: (sid in excluded, *rank(sid)),
        )
        alternatives = [
            Alternative(
                schemes[sid],
                scores.get(sid, 0),
                cons.get(sid, []),
                pros.get(sid, []),
                excluded=sid in excluded,
                overflow=sid in overflow,
                missing=self._missing(state, sid),
            )
            for sid in [*overflow, *others][: settings.max_alternatives]
        ]
        return Result(recommended, alternatives, open_points, dict(state.facts), existing)

    def _missing(self, state: State, sid: str) -> list[Missing]:
        """The answers that would have counted (more) for a scheme, most points first."""
        found: list[Missing] = []
        asked: list[tuple[Question, Option | None]] = [(g.question, g.option) for g in state.given]
        for question, chosen in [*asked, *((q, None) for q in state.skipped)]:
            known = chosen is not None and not chosen.unknown
            had = sum(e.points for e in chosen.effects if e.scheme == sid) if chosen else 0
            for option in question.options:
                if option is chosen:
                    continue
                pts = sum(e.points for e in option.effects if e.scheme == sid and not e.exclude)
                if pts > had and pts > 0:
                    given = chosen.label if known and chosen is not None else None
                    found.append(Missing(question.short, option.label, pts - had, given))
        found.sort(key=lambda m: (m.given is not None, -m.points))
        return found[:2]

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


def existing_structure(facts: dict[str, str | None]) -> str | None:
    """The kind of structure the person already has, if any: association, entreprise, structure."""
    for fact in ("profile", "on_behalf"):
        value = facts.get(fact)
        if value in ("association", "entreprise"):
            return value
    return "structure" if facts.get("stage") == "existant" else None
