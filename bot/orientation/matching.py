"""Which option of a question a typed text names, if it clearly names one.

An option is taken when the text is its number, its value, label or alias (typos
forgiven), or a phrase that names that option and nothing else (« je suis maire » →
collectivité: every meaningful word of the text belongs to that option's terms). Anything
less clear gives suggestions, the options nearest in meaning first, never an answer. Stop
words never count, and a term after a negation (« pas juste tester ») is not named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.orientation.reading import Reader, Reading, Term, strip_tags
from knowledge.loader import KnowledgeBase, normalize
from knowledge.schema import Option, Question

#: how many options are suggested at most
MAX_SUGGESTIONS = 3


@dataclass
class OptionMatch:
    option: Option | None
    suggestions: list[Option]
    #: the option terms the text names (owner → covered positions), for the dialogue
    named: dict[str, set[int]] = field(default_factory=dict)


def option_terms(option: Option) -> set[str]:
    return {option.value.replace("_", " "), option.label, *option.aliases}


class OptionMatcher:
    def __init__(self, kb: KnowledgeBase, reader: Reader | None = None) -> None:
        self._exact: dict[str, dict[str, str]] = {}
        self._terms: dict[str, list[Term]] = {}
        vocabulary: set[str] = set()
        for q in kb.tree.questions:
            exact: dict[str, str] = {}
            terms: list[Term] = []
            for opt in q.options:
                for text in option_terms(opt):
                    exact.setdefault(normalize(text), opt.value)
                    stems = Reader.term_stems(text)
                    if stems:
                        terms.append(Term(stems, opt.value))
                        vocabulary.update(stems)
            self._exact[q.id] = exact
            self._terms[q.id] = terms
        self.vocabulary = vocabulary
        self.reader = reader or Reader(vocabulary)

    def terms(self, question: Question) -> list[Term]:
        return self._terms.get(question.id, [])

    def exact(self, question: Question, text: str) -> Option | None:
        """The option a text is exactly: its number, value, label or alias."""
        norm = normalize(strip_tags(text))
        if norm.isdigit():
            index = int(norm) - 1
            return question.options[index] if 0 <= index < len(question.options) else None
        value = self._exact.get(question.id, {}).get(norm)
        return question.option(value) if value else None

    def match(self, question: Question, text: str, reading: Reading | None = None) -> OptionMatch:
        option = self.exact(question, text)
        if option is not None:
            return OptionMatch(option, [])
        reading = reading or self.reader.read(text)
        named = reading.spans(self.terms(question))
        content = set(reading.content)
        whole = [value for value, covered in named.items() if content and content <= covered]
        if len(whole) == 1:  # every meaningful word names this option…
            value = whole[0]
            covered = named[value]
            # …and any other option named is only part of its words (« local » in
            # « un service local »)
            if all(other < covered for v, other in named.items() if v != value):
                return OptionMatch(question.option(value), [], named)
        return OptionMatch(None, self.suggest(question, reading, named), named)

    def suggest(
        self, question: Question, reading: Reading, named: dict[str, set[int]]
    ) -> list[Option]:
        """The options nearest in meaning: those the text names, then shared stems."""
        text_stems = set(reading.content_stems)
        negated = {reading.stems[i] for i in reading.content if reading.negated[i]}
        scores: dict[str, float] = {}
        for value, covered in named.items():
            scores[value] = 10.0 + len(covered)
        for term in self.terms(question):
            shared = (set(term.stems) & text_stems) - negated
            if shared and term.owner not in named:
                score = len(shared) / len(term.stems)
                scores[term.owner] = max(scores.get(term.owner, 0.0), score)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        return [o for v, _ in ranked[:MAX_SUGGESTIONS] if (o := question.option(v))]
