"""What can still change the ranking: the tree's score bounds, for the engine to skip the
questions no answer to which could change the recommended schemes.

For each question, the lowest and highest points its answers can give each scheme (and each
pair of schemes: their difference's range), summed over the questions that may still come:
a question is decisive when one of its answers could still move a scheme across the
threshold or change the order of schemes that may end in the settled top places. The test is
conservative: it may ask a question that turns out not to matter, never skip one that could.
"""

from __future__ import annotations

from bisect import bisect_left
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


_NONE: frozenset[int] = frozenset()
_EMPTY: dict[int, tuple[int, int]] = {}
_ZERO = (0, 0)


class Point:
    """Where an orientation stands: the points each scheme has so far and the schemes ruled
    out, as the settler reads them (a vector in its order of scheme ids), with the decisive
    checks already made from here."""

    __slots__ = ("memo", "out", "vec")

    def __init__(self, vec: tuple[int, ...], out: frozenset[int], memo: dict[object, bool]):
        self.vec = vec
        self.out = out
        self.memo = memo


class _Vectors:
    """Bounds as the settler reads them: per scheme index, per pair of indexes."""

    __slots__ = ("corr", "excl", "hi", "lo")

    def __init__(self, b: Bounds, index: dict[str, int]) -> None:
        n = len(index)
        lo, hi = [0] * n, [0] * n
        for sid, v in b.lo.items():
            lo[index[sid]] = v
        for sid, v in b.hi.items():
            hi[index[sid]] = v
        self.lo, self.hi = tuple(lo), tuple(hi)
        #: per scheme index, per other index: the correction of their difference's range
        self.corr: dict[int, dict[int, tuple[int, int]]] = {}
        for (x, y), c in b.corr.items():
            self.corr.setdefault(index[x], {})[index[y]] = c
        self.excl = frozenset(index[sid] for sid, k in b.excl.items() if k > 0)


class _Frame:
    """What a check of one question against some bounds reads that does not depend on the
    answers given so far."""

    __slots__ = ("corr", "excludable", "flooroff", "hi", "lo", "pool", "topoff")

    def __init__(
        self,
        rv: _Vectors,
        slo: tuple[int, ...],
        shi: tuple[int, ...],
        q_excl: frozenset[int],
    ) -> None:
        self.lo, self.hi, self.corr = rv.lo, rv.hi, rv.corr
        self.topoff = tuple(a + b for a, b in zip(rv.hi, shi, strict=True))
        self.flooroff = tuple(a + b for a, b in zip(rv.lo, slo, strict=True))
        self.excludable = rv.excl | q_excl
        self.pool = tuple(i for i in range(len(slo)) if i not in self.excludable)


class Settler:
    def __init__(self, kb: KnowledgeBase, settle: int | None = None) -> None:
        self.kb = kb
        #: how many places of the ranking must be settled before the orientation stops
        self.settle = settle if settle is not None else min(SETTLE, kb.tree.settings.max_results)
        self.threshold = kb.tree.settings.recommend_threshold
        self._excl = {
            q.id: {e.scheme for o in q.options for e in o.effects if e.exclude}
            for q in kb.tree.questions
        }
        #: checks already made, by where the orientation stands (see `Point`)
        self._decisions: dict[tuple[tuple[int, ...], frozenset[int]], dict[object, bool]] = {}
        self._span: dict[str, Span] = {}
        self._pairs: dict[str, dict[tuple[str, str], tuple[int, int]]] = {}
        self._after: dict[str, frozenset[str]] = {}
        self._contrib: dict[str, Bounds] = {}
        #: scheme ids in sorted order: the settler's vectors follow it
        self._ids = sorted(kb.schemes)
        self._index = {sid: i for i, sid in enumerate(self._ids)}
        #: bounds that depend only on the tree, computed once: (question, question left out)
        self._static: dict[tuple[str, str], Bounds] = {}
        self._vectors: dict[int, _Vectors] = {}
        self._frames: dict[tuple[str, int], _Frame] = {}
        for q in kb.tree.questions:
            self._span[q.id], self._pairs[q.id] = _spans(q)
            self._contrib[q.id] = _contribution(
                self._span[q.id], self._pairs[q.id], self._excl[q.id]
            )
        zero = [0] * len(self._ids)
        #: per question: whether it branches, its span as two vectors, its excluding schemes
        #: and each answer's effects by scheme index
        self._q: dict[str, tuple[bool, tuple[int, ...], tuple[int, ...], frozenset[int]]] = {}
        self._effects: dict[str, list[list[tuple[int, int, bool]]]] = {}
        for q in kb.tree.questions:
            slo, shi = list(zero), list(zero)
            for sid, (a, b) in self._span[q.id].items():
                slo[self._index[sid]], shi[self._index[sid]] = a, b
            excl = frozenset(self._index[sid] for sid in self._excl[q.id])
            self._q[q.id] = (self.branches(q), tuple(slo), tuple(shi), excl)
            self._effects[q.id] = [
                [(self._index[e.scheme], e.points, e.exclude) for e in o.effects] for o in q.options
            ]
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

    def point(self, scores: dict[str, int], excluded: set[str]) -> Point:
        """Where an orientation stands, for `decisive` and `most_left`."""
        index = self._index
        values = [0] * len(index)
        for sid, v in scores.items():
            values[index[sid]] = v
        vec = tuple(values)
        out = frozenset(index[sid] for sid in excluded)
        memo = self._decisions.get((vec, out))
        if memo is None:
            if len(self._decisions) >= DECISIVE_CACHE:
                self._decisions.clear()
            memo = self._decisions[(vec, out)] = {}
        return Point(vec, out, memo)

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

    def decisive(self, q: Question, at: Point, rest: Bounds) -> bool:
        """Could some answer to `q` change the recommended schemes, for some other answers?

        `rest`: the bounds of the other questions that may still be answered (one of the
        settler's precomputed bounds: they live as long as it does, so their id is a key).
        """
        key = (q.id, id(rest))
        found = at.memo.get(key)
        if found is None:
            found = at.memo[key] = self._check(q, at, rest)
        return found

    def _frame(self, q: Question, rest: Bounds) -> _Frame:
        key = (q.id, id(rest))
        frame = self._frames.get(key)
        if frame is None:
            rv = self._vectors.get(id(rest))
            if rv is None:
                rv = self._vectors[id(rest)] = _Vectors(rest, self._index)
            frame = self._frames[key] = _Frame(rv, *self._q[q.id][1:])
        return frame

    def _check(self, q: Question, at: Point, rest: Bounds) -> bool:
        """`decisive`, uncached."""
        if self._q[q.id][0]:
            return True  # the answer chooses the next questions
        threshold, settle = self.threshold, self.settle
        f = self._frame(q, rest)
        vec, out, lo, hi, corr = at.vec, at.out, f.lo, f.hi, f.corr
        # each scheme's highest final score with q's best answer and lowest with its worst
        # (q's range includes 0: not answered); the lowest and highest without q, `lo` and
        # `hi` added to `vec`, are read where needed
        top_ = [a + b for a, b in zip(vec, f.topoff, strict=True)]
        floor_ = [a + b for a, b in zip(vec, f.flooroff, strict=True)]
        # the schemes that could end in the settled top places, whatever the answers: a
        # scheme can reach the first `places` places unless that many others surely beat it
        if out:
            sure = sorted([floor_[i] for i in f.pool if i not in out], reverse=True)
        else:
            sure = sorted([floor_[i] for i in f.pool], reverse=True)
        bar = max(threshold, sure[settle - 1]) if len(sure) >= settle else threshold
        possible = [i for i, t in enumerate(top_) if t >= bar and i not in out]
        may = set(possible)
        first = {i for i in possible if top_[i] >= sure[0]} if sure else may
        settled: set[int] | None = None  # computed when first needed
        settled_not_first: set[int] = set()
        for effects in self._effects[q.id]:
            delta: dict[int, int] = {}
            for x, points, exclude in effects:
                if x in out:
                    continue
                if exclude:
                    if x in may:
                        return True  # ruling out a scheme that could be recommended
                    continue
                delta[x] = delta.get(x, 0) + points
            for x, e in delta.items():
                if e == 0 or x not in may:
                    continue
                low_x, high_x = vec[x] + lo[x], vec[x] + hi[x]
                # crossing the threshold: some final score v (without q) with v < T <= v + e
                a, b = (threshold - e, threshold - 1) if e > 0 else (threshold, threshold - e - 1)
                if max(a, low_x) <= min(b, high_x):
                    return True
                # changing its order with another scheme that could be recommended with it,
                # unless both stay in the settled places and neither can be first
                if settled is None:
                    # in the settled places whatever the answers (ties count against it):
                    # fewer than `settle` other schemes can reach its lowest score
                    tops = sorted([top_[z] for z in range(len(top_)) if z not in out])
                    settled = {
                        i
                        for i in possible
                        if i not in f.excludable
                        and floor_[i] >= threshold
                        and len(tops) - bisect_left(tops, floor_[i]) - 1 < settle
                    }
                    settled_not_first = settled - first
                if x not in settled:
                    skip: set[int] | frozenset[int] = _NONE
                else:
                    skip = settled_not_first if x in first else settled
                row = corr.get(x, _EMPTY)
                for y in possible:
                    if y == x or y in skip:
                        continue
                    dy = delta.get(y)
                    if dy is None:
                        ey = e
                    elif y < x:
                        continue  # the pair was already seen
                    else:
                        ey = e - dy
                        if ey == 0:
                            continue  # no relative change
                    c_lo, c_hi = row.get(y, _ZERO)
                    d_lo = low_x - vec[y] - hi[y] + c_lo
                    d_hi = high_x - vec[y] - lo[y] + c_hi
                    # a difference d (x minus y) such that d and d + ey are not on the same side
                    a, b = (-ey, 0) if ey > 0 else (0, -ey)
                    if max(a, d_lo) <= min(b, d_hi):
                        return True
        return False

    def most_left(self, current: Question, at: Point) -> int:
        """The most questions that may still be asked from `current` (itself included)."""
        memo: dict[str, int] = {}
        questions = self.kb.questions

        def visit(qid: str) -> int:
            if qid not in memo:
                q = questions[qid]
                asked = qid == current.id or self.decisive(
                    q, at, self.others_bounds(current.id, qid)
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
