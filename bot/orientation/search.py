"""Find a scheme from what a person types: case-, accent- and typo-insensitive."""

from __future__ import annotations

from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from knowledge.loader import KnowledgeBase, normalize
from knowledge.schema import Scheme

#: a match at least this good, clearly ahead of the next scheme, is taken as the answer
SURE = 88.0
#: under this, a term is not suggested at all
CUTOFF = 70.0
#: how far ahead the best scheme must be to be taken without asking
MARGIN = 6.0
#: the score given to a term that starts with the whole query
PREFIX = 96.0
#: a single candidate this good is taken (a typo such as "sicc")
ALONE = 75.0


@dataclass
class SearchResult:
    query: str
    found: Scheme | None = None
    suggestions: list[Scheme] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        return self.found is None and bool(self.suggestions)


class SchemeSearch:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._exact: dict[str, str] = {}
        terms: list[str] = []
        owners: list[str] = []
        for sid, scheme in kb.schemes.items():
            for term in {
                sid,
                sid.replace("_", " "),
                scheme.name,
                scheme.short_name,
                *scheme.aliases,
            }:
                norm = normalize(term)
                if not norm:
                    continue
                self._exact.setdefault(norm, sid)
                terms.append(norm)
                owners.append(sid)
        self._terms = terms
        self._owners = owners

    def search(self, query: str, limit: int = 5) -> SearchResult:
        norm = normalize(query)[:200]
        result = SearchResult(query=query)
        if len(norm) < 2:
            return result
        if norm in self._exact:
            result.found = self.kb.schemes[self._exact[norm]]
            return result
        best: dict[str, float] = {}
        for term, score, idx in process.extract(
            norm, self._terms, scorer=fuzz.WRatio, limit=40, score_cutoff=CUTOFF
        ):
            if len(norm) >= 4 and term.startswith(norm):
                score = max(score, PREFIX)  # the beginning of a name, typed in full
            sid = self._owners[idx]
            if score > best.get(sid, 0.0):
                best[sid] = score
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        if not ranked:
            return result
        top_id, top_score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        alone = len(ranked) == 1 and top_score >= ALONE
        if alone or (top_score >= SURE and top_score - runner_up >= MARGIN):
            result.found = self.kb.schemes[top_id]
        else:
            result.suggestions = [self.kb.schemes[sid] for sid, _ in ranked[:limit]]
        return result
