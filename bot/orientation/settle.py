"""What can still change the ranking: the tree's score bounds, for the engine to skip the
questions no answer to which could change the recommended schemes.

For each question, the lowest and highest points its answers can give each scheme (and each
pair of schemes: their difference's range), summed over the questions that may still come:
a question is decisive when one of its answers could still move a scheme across the
threshold or change the order of schemes that may end in the settled top places. The test is
conservative: it may ask a question that turns out not to matter, never skip one that could.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from knowledge.loader import KnowledgeBase
from knowledge.schema import RESULT, Question

#: the places of the ranking that must be settled before the orientation stops
SETTLE = 3
#: decisive checks kept, by (question, bounds, scores, excluded): states share most of them
DECISIVE_CACHE = 16384

#: per scheme, the lowest and highest points one question can still give (0 if not answered)
Span = dict[str, tuple[int, int]]


class Settler:
    def __init__(self, kb: KnowledgeBase, settle: int | None = None) -> None:
        self.kb = kb
        #: how many places of the ranking must be settled before the orientation stops
        self.settle = settle if settle is not None else min(SETTLE, kb.tree.settings.max_results)
        self._excl = {
            q.id: {e.scheme for o in q.options for e in o.effects if e.exclude}
            for q in kb.tree.questions
        }
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
            self.reach(q.id)

    def reach(self, qid: str) -> frozenset[str]:
        """Every question that may come after `qid` (not itself)."""
        if qid not in self._after:
            out: set[str] = set()
            q = self.kb.questions[qid]
            for nxt in {q.next_of(o) for o in q.options}:
                if nxt is not None and nxt != RESULT:
                    out |= {nxt, *self.reach(nxt)}
            self._after[qid] = frozenset(out)
        return self._after[qid]

    @staticmethod
    def branches(q: Question) -> bool:
        return len({q.next_of(o) for o in q.options}) > 1

    # --------------------------------------------------------------- what can still change

    def bounds(self, rest: Iterable[str]) -> Bounds:
        """What the questions in `rest` can still add, per scheme and per pair of schemes."""
        b = Bounds()
        for r in rest:
            b.add(self._contrib[r], 1)
        return b

    def after_bounds(self, qid: str) -> Bounds:
        """The bounds of every question that may come after `qid` (fixed by the tree)."""
        found = self._static.get((qid, ""))
        if found is None:
            found = self._static[(qid, "")] = self.bounds(self.reach(qid))
        return found

    def others_bounds(self, current: str, qid: str) -> Bounds:
        """From `current` on (itself included), every question but `qid` (fixed by the tree)."""
        found = self._static.get((current, qid))
        if found is None:
            total = self.bounds(self.reach(current) | {current})
            found = self._static[(current, qid)] = total.without(self._contrib[qid])
        return found

    def decisive(
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
        if self.branches(q):
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
        sure = sorted(floor_[y] for y in ids if y not in excludable and y not in excluded)
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

    def most_left(self, current: Question, scores: dict[str, int], excluded: set[str]) -> int:
        """The most questions that may still be asked from `current` (itself included)."""
        memo: dict[str, int] = {}

        def visit(qid: str) -> int:
            if qid not in memo:
                q = self.kb.questions[qid]
                asked = qid == current.id or self.decisive(
                    q, scores, excluded, self.others_bounds(current.id, qid)
                )
                below = [visit(n) for n in {q.next_of(o) for o in q.options} if n and n != RESULT]
                memo[qid] = int(asked) + max(below, default=0)
            return memo[qid]

        return visit(current.id)

    # --------------------------------------------------------------- derive


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
