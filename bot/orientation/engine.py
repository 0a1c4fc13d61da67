"""The orientation engine: pure and deterministic, no I/O.

A session is the ordered log of answers. Everything else (the current question, the
progress, the facts collected, the result and its trace) is derived from it by replaying
the log over the decision tree. Back pops the last answer; restart clears the log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from knowledge.loader import KnowledgeBase
from knowledge.schema import RESULT, Option, Question, Scheme

SESSION_FORMAT = 1
#: the orientation stops when the first SETTLE places of the ranking can no longer change
SETTLE = 3
#: answer logs whose derivation is kept (the tree has far fewer distinct prefixes in use)
DERIVED_CACHE = 4096
#: decisive checks kept, by (question, bounds, scores, excluded): states share most of them
DECISIVE_CACHE = 16384


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

#: per scheme, the lowest and highest points one question can still give (0 if not answered)
Span = dict[str, tuple[int, int]]


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
        #: how many places of the ranking must be settled before the orientation stops
        self.settle = settle if settle is not None else min(SETTLE, kb.tree.settings.max_results)
        self._excl = {
            q.id: {e.scheme for o in q.options for e in o.effects if e.exclude}
            for q in kb.tree.questions
        }
        self.start = kb.questions[kb.tree.settings.start]
        self._derived: dict[tuple[tuple[str, str], ...], Derived] = {}
        self._decisions: dict[object, bool] = {}
        self._span: dict[str, Span] = {}
        self._pairs: dict[str, dict[tuple[str, str], tuple[int, int]]] = {}
        self._after: dict[str, frozenset[str]] = {}
        self._contrib: dict[str, Bounds] = {}
        self._ids = list(kb.schemes)
        #: bounds that depend only on the tree, computed once: (question, question left out)
        self._static: dict[tuple[str, str], Bounds] = {}
        for q in kb.tree.questions:
            self._span[q.id], self._pairs[q.id] = _spans(q)
            self._contrib[q.id] = _contribution(
                self._span[q.id], self._pairs[q.id], self._excl[q.id]
            )
        for q in kb.tree.questions:
            self._reach(q.id)

    def _reach(self, qid: str) -> frozenset[str]:
        """Every question that may come after `qid` (not itself)."""
        if qid not in self._after:
            out: set[str] = set()
            q = self.kb.questions[qid]
            for nxt in {q.next_of(o) for o in q.options}:
                if nxt is not None and nxt != RESULT:
                    out |= {nxt, *self._reach(nxt)}
            self._after[qid] = frozenset(out)
        return self._after[qid]

    @staticmethod
    def _branches(q: Question) -> bool:
        return len({q.next_of(o) for o in q.options}) > 1

    # --------------------------------------------------------------- what can still change

    def _bounds(self, rest: Iterable[str]) -> Bounds:
        """What the questions in `rest` can still add, per scheme and per pair of schemes."""
        b = Bounds()
        for r in rest:
            b.add(self._contrib[r], 1)
        return b

    def _after_bounds(self, qid: str) -> Bounds:
        """The bounds of every question that may come after `qid` (fixed by the tree)."""
        found = self._static.get((qid, ""))
        if found is None:
            found = self._static[(qid, "")] = self._bounds(self._reach(qid))
        return found

    def _others_bounds(self, current: str, qid: str) -> Bounds:
        """From `current` on (itself included), every question but `qid` (fixed by the tree)."""
        found = self._static.get((current, qid))
        if found is None:
            total = self._bounds(self._reach(current) | {current})
            found = self._static[(current, qid)] = total.without(self._contrib[qid])
        return found

    def _decisive(
        self, q: Question, scores: dict[str, int], excluded: set[str], rest: Bounds
    ) -> bool:
        """Could some answer to `q` change the recommended schemes, for some other answers?

        `rest`: the bounds of the other questions that may still be answered (one of the
        engine's precomputed bounds: they live as long as the engine, so their id is a key).
        """
        key = (q.id, id(rest), tuple(sorted(scores.items())), frozenset(excluded))
        found = self._decisions.get(key)
        if found is None:
            found = self._check(q, scores, excluded, rest)
            if len(self._decisions) >= DECISIVE_CACHE:
                self._decisions.clear()
            self._decisions[key] = found
        return found

    def _check(self, q: Question, scores: dict[str, int], excluded: set[str], rest: Bounds) -> bool:
        """`_decisive`, uncached."""
        if self._branches(q):
            return True  # the answer chooses the next questions
        threshold = self.kb.tree.settings.recommend_threshold
        lo, hi, corr = rest.lo, rest.hi, rest.corr
        ids = self._ids
        # each scheme's lowest and highest final score without q, and with q's best answer
        # (q's range includes 0: not answered); computed once per call, read many times
        low_ = {sid: scores.get(sid, 0) + lo.get(sid, 0) for sid in ids}
        high_ = {sid: scores.get(sid, 0) + hi.get(sid, 0) for sid in ids}
        span = self._span[q.id]
        top_ = {sid: high_[sid] + (span[sid][1] if sid in span else 0) for sid in ids}
        floor_ = {sid: low_[sid] + (span[sid][0] if sid in span else 0) for sid in ids}
        excludable = {sid for sid, n in rest.excl.items() if n > 0} | self._excl[q.id]
        # the schemes that could end in the settled top places, whatever the answers
        sure = sorted((floor_[y] for y in ids if y not in excludable and y not in excluded))
        sure.reverse()

        def places_above(sid: str, places: int) -> bool:
            top = top_[sid]
            return sum(1 for v in sure[: places + 1] if v > top) < places

        candidates = [sid for sid in ids if sid not in excluded and top_[sid] >= threshold]
        possible = [sid for sid in candidates if places_above(sid, self.settle)]
        may = set(possible)
        first = {sid for sid in possible if places_above(sid, 1)}
        tops = [top_[z] for z in ids if z not in excluded]

        def sure_top(sid: str) -> bool:
            """In the settled places whatever the answers (ties count against it)."""
            floor = floor_[sid]
            if sid in excludable or floor < threshold:
                return False
            return sum(1 for v in tops if v >= floor) - 1 < self.settle

        settled = {sid for sid in possible if sure_top(sid)}
        for option in q.options:
            delta: dict[str, int] = {}
            for eff in option.effects:
                if eff.scheme in excluded:
                    continue
                if eff.exclude:
                    if eff.scheme in may:
                        return True  # ruling out a scheme that could be recommended
                    continue
                delta[eff.scheme] = delta.get(eff.scheme, 0) + eff.points
            for x, e in delta.items():
                if e == 0 or x not in may:
                    continue
                # crossing the threshold: some final score v (without q) with v < T <= v + e
                a, b = (threshold - e, threshold - 1) if e > 0 else (threshold, threshold - e - 1)
                if max(a, low_[x]) <= min(b, high_[x]):
                    return True
                # changing its order with another scheme that could be recommended with it
                for y in possible:
                    if y == x or (x in settled and y in settled and not {x, y} <= first):
                        continue  # both stay in the settled places, neither can be first
                    ey = e - delta.get(y, 0)
                    if ey == 0 or (y in delta and y < x):
                        continue  # no relative change, or the pair was already seen
                    c_lo, c_hi = corr.get((x, y), (0, 0))
                    d_lo = low_[x] - high_[y] + c_lo
                    d_hi = high_[x] - low_[y] + c_hi
                    # a difference d (x minus y) such that d and d + ey are not on the same side
                    a, b = (-ey, 0) if ey > 0 else (0, -ey)
                    if max(a, d_lo) <= min(b, d_hi):
                        return True
        return False

    def _most_left(self, current: Question, scores: dict[str, int], excluded: set[str]) -> int:
        """The most questions that may still be asked from `current` (itself included)."""
        memo: dict[str, int] = {}

        def visit(qid: str) -> int:
            if qid not in memo:
                q = self.kb.questions[qid]
                asked = qid == current.id or self._decisive(
                    q, scores, excluded, self._others_bounds(current.id, qid)
                )
                below = [visit(n) for n in {q.next_of(o) for o in q.options} if n and n != RESULT]
                memo[qid] = int(asked) + max(below, default=0)
            return memo[qid]

        return visit(current.id)

    # --------------------------------------------------------------- derive

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
                if self._decisive(q, scores, excluded, self._after_bounds(q.id)):
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
            remaining = self._most_left(current, scores, excluded)
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


@dataclass
class Bounds:
    """Summed over some questions: per scheme the lowest and highest points they can still
    give, per pair of schemes touched together the correction of their difference's range,
    and how many of them can rule each scheme out."""

    lo: dict[str, int] = field(default_factory=dict)
    hi: dict[str, int] = field(default_factory=dict)
    corr: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    excl: dict[str, int] = field(default_factory=dict)

    def add(self, other: Bounds, sign: int) -> None:
        for sid, v in other.lo.items():
            self.lo[sid] = self.lo.get(sid, 0) + sign * v
        for sid, v in other.hi.items():
            self.hi[sid] = self.hi.get(sid, 0) + sign * v
        for pair, (a, b) in other.corr.items():
            c = self.corr.get(pair, (0, 0))
            self.corr[pair] = (c[0] + sign * a, c[1] + sign * b)
        for sid, n in other.excl.items():
            self.excl[sid] = self.excl.get(sid, 0) + sign * n

    def without(self, other: Bounds) -> Bounds:
        out = Bounds(dict(self.lo), dict(self.hi), dict(self.corr), dict(self.excl))
        out.add(other, -1)
        return out


def _contribution(
    span: Span, pairs: dict[tuple[str, str], tuple[int, int]], excl: set[str]
) -> Bounds:
    corr = {
        (x, y): (plo - (span[x][0] - span[y][1]), phi - (span[x][1] - span[y][0]))
        for (x, y), (plo, phi) in pairs.items()
    }
    return Bounds(
        {sid: a for sid, (a, _) in span.items()},
        {sid: b for sid, (_, b) in span.items()},
        corr,
        dict.fromkeys(excl, 1),
    )


def existing_structure(facts: dict[str, str | None]) -> str | None:
    """The kind of structure the person already has, if any: association, entreprise, structure."""
    for fact in ("profile", "on_behalf"):
        value = facts.get(fact)
        if value in ("association", "entreprise"):
            return value
    return "structure" if facts.get("stage") == "existant" else None


def _spans(q: Question) -> tuple[Span, dict[tuple[str, str], tuple[int, int]]]:
    """Per scheme, the points range of a question's answers, 0 (no answer) included; and for
    every pair of schemes the question touches together, the range of their difference."""
    per_option: list[dict[str, int]] = [{}]  # the empty answer: not asked, « je ne sais pas »
    for o in q.options:
        pts: dict[str, int] = {}
        for eff in o.effects:
            pts[eff.scheme] = pts.get(eff.scheme, 0) + eff.points
        per_option.append(pts)
    touched = sorted({sid for pts in per_option for sid in pts})
    span = {
        sid: (min(p.get(sid, 0) for p in per_option), max(p.get(sid, 0) for p in per_option))
        for sid in touched
    }
    pairs: dict[tuple[str, str], tuple[int, int]] = {}
    for x in touched:
        for y in touched:
            if x != y:
                diffs = [p.get(x, 0) - p.get(y, 0) for p in per_option]
                pairs[(x, y)] = (min(diffs), max(diffs))
    return span, pairs
