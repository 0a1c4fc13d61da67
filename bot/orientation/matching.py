"""Which option of a question a typed text names, if it clearly names one.

A number, an option's value, label or alias, typed exactly or with small typos; anything
less clear gives suggestions, never an answer (see the dialogue).
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process

from knowledge.loader import KnowledgeBase, normalize
from knowledge.schema import Option, Question


@dataclass
class OptionMatch:
    option: Option | None
    suggestions: list[Option]


class OptionMatcher:
    def __init__(self, kb: KnowledgeBase) -> None:
        self._terms: dict[str, tuple[list[str], list[Option]]] = {}
        for q in kb.tree.questions:
            terms: list[str] = []
            owners: list[Option] = []
            for opt in q.options:
                for term in {opt.value.replace("_", " "), opt.label, *opt.aliases}:
                    terms.append(normalize(term))
                    owners.append(opt)
            self._terms[q.id] = (terms, owners)

    def match(self, question: Question, text: str) -> OptionMatch:
        norm = normalize(text)
        if norm.isdigit():
            index = int(norm) - 1
            if 0 <= index < len(question.options):
                return OptionMatch(question.options[index], [])
        terms, owners = self._terms[question.id]
        for term, opt in zip(terms, owners, strict=True):
            if term == norm:
                return OptionMatch(opt, [])
        if not norm:
            return OptionMatch(None, [])
        best: dict[str, float] = {}
        for _t, score, idx in process.extract(
            norm, terms, scorer=fuzz.WRatio, limit=20, score_cutoff=65
        ):
            value = owners[idx].value
            best[value] = max(best.get(value, 0.0), score)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        if not ranked:
            return OptionMatch(None, [])
        top, score = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if score >= 85 and score - second >= 8:
            return OptionMatch(question.option(top), [])
        return OptionMatch(None, [o for v, _ in ranked[:3] if (o := question.option(v))])
