"""What a typed text means where the person is, decided once for every channel.

In this order: the current question's option typed exactly (its number, label or alias);
two or three schemes named (a comparison); a phrase that names exactly one option
(« je suis maire »); an intent (« c'est gratuit ? »); one scheme named (its fiche);
otherwise suggestions, never an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.dialogue.intents import IntentMatch, IntentMatcher
from bot.orientation.matching import OptionMatcher
from bot.orientation.reading import COMPARE_CUES, Reader, Reading, Term
from knowledge.loader import KnowledgeBase
from knowledge.schema import Option, Question, Scheme

Outcome = Literal["answer", "compare", "intent", "scheme", "suggest", "none"]


@dataclass
class Meaning:
    outcome: Outcome
    option: Option | None = None
    schemes: list[Scheme] = field(default_factory=list)
    intent: IntentMatch | None = None
    suggestions: list[Option] = field(default_factory=list)


class Understanding:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._scheme_terms: list[Term] = []
        vocabulary: set[str] = set()
        for sid, scheme in kb.schemes.items():
            names = {sid.replace("_", " "), scheme.name, scheme.short_name, *scheme.aliases}
            for name in names:
                stems = Reader.term_stems(name)
                if stems:
                    self._scheme_terms.append(Term(stems, sid))
                    vocabulary.update(stems)
        self.options = OptionMatcher(kb)
        self.reader = Reader(vocabulary | self.options.vocabulary)
        self.options.reader = self.reader
        self.intents = IntentMatcher(kb.intents)

    def schemes_named(self, reading: Reading, question: Question | None = None) -> list[Scheme]:
        """The schemes a text names, in the order it names them; a term that is also an
        option of the current question names the option, not the scheme."""
        taken = {t.stems for t in self.options.terms(question)} if question else set()
        found: dict[str, int] = {}
        for term in self._scheme_terms:
            if term.stems in taken:
                continue
            at = reading.occurs(term)
            if at is not None and at < found.get(term.owner, 10**6):
                found[term.owner] = at
        return [self.kb.schemes[sid] for sid, _ in sorted(found.items(), key=lambda kv: kv[1])]

    def read(self, text: str, question: Question | None = None) -> Meaning:
        if question is not None:
            exact = self.options.exact(question, text)
            if exact is not None:
                return Meaning("answer", option=exact)
        reading = self.reader.read(text)
        schemes = self.schemes_named(reading, question)
        if len(schemes) < 2 and question is not None and COMPARE_CUES & set(reading.norm.split()):
            # « cae ou couveuse ? »: names of options too, but a comparison is asked
            every = self.schemes_named(reading)
            schemes = every if len(every) >= 2 else schemes
        if len(schemes) >= 2:
            return Meaning("compare", schemes=schemes)
        suggestions: list[Option] = []
        if question is not None:
            match = self.options.match(question, text, reading)
            if match.option is not None:
                return Meaning("answer", option=match.option)
            suggestions = match.suggestions
        intent = self.intents.find(text, reading)
        if intent is not None:
            return Meaning("intent", intent=intent)
        if schemes:
            return Meaning("scheme", schemes=schemes)
        if suggestions:
            return Meaning("suggest", suggestions=suggestions)
        return Meaning("none")
