"""Finding an intent (knowledge/intents.yaml) in a typed text.

An intent is recognised when one of its phrasings occurs in the text, word for word
(accents, capitals, plurals and punctuation do not matter); the longest phrasing found
wins. Stop words count here (« qui êtes-vous » is nothing but stop words), so a
phrasing is matched whole, never one of its words alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.orientation.reading import NEGATIONS, Reader, Reading, stem, words
from knowledge.intents import Intent
from knowledge.loader import Problem

#: words that introduce a place after an intent (« qui peut m'aider en Bretagne »)
PLACE_WORDS = frozenset(
    [
        "en",
        "a",
        "au",
        "aux",
        "dans",
        "sur",
        "pres",
        "de",
        "du",
        "des",
        "d",
        "l",
        "le",
        "la",
        "les",
        "vers",
        "cote",
        "region",
        "departement",
    ]
)


def _stems(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in words(text))


@dataclass(frozen=True)
class IntentMatch:
    intent: Intent
    #: the words of the text outside the phrasing found (a place, maybe)
    rest: str


class IntentMatcher:
    def __init__(self, intents: list[Intent]) -> None:
        self.intents = intents
        self._phrases = sorted(
            ((_stems(example), intent) for intent in intents for example in intent.examples),
            key=lambda item: -len(item[0]),
        )

    def find(self, text: str, reading: Reading | None = None) -> IntentMatch | None:
        """The intent a text expresses; an intent marked `alone` (a greeting, thanks) only
        when the text says nothing else (`reading` tells the meaningful words)."""
        for match in self._all(_stems(text), words(text)):
            if match.intent.alone and reading is not None:
                rest = Reader.term_stems(match.rest)
                if [s for s in rest if s not in NEGATIONS]:
                    continue
            return match
        return None

    def _all(self, stems: tuple[str, ...], raw: list[str]) -> list[IntentMatch]:
        out: list[IntentMatch] = []
        for phrase, intent in self._phrases:
            size = len(phrase)
            for i in range(len(stems) - size + 1):
                if stems[i : i + size] == phrase:
                    rest = " ".join(raw[:i] + raw[i + size :])
                    if all(m.intent.id != intent.id for m in out):
                        out.append(IntentMatch(intent, rest))
                    break
        return out

    def place_text(self, match: IntentMatch) -> str:
        """What may name a place in the rest of the text (prepositions dropped)."""
        kept = [w for w in match.rest.split() if w not in PLACE_WORDS]
        return " ".join(kept)

    def conflicts(self) -> list[Problem]:
        """Phrasings that another intent would recognise too (the file needs a fix)."""
        problems: list[Problem] = []
        for intent in self.intents:
            for example in intent.examples:
                others = [
                    m.intent.id
                    for m in self._all(_stems(example), words(example))
                    if m.intent.id != intent.id
                ]
                if others:
                    problems.append(
                        Problem(
                            "intents.yaml",
                            intent.id,
                            f"« {example} » est aussi reconnue par « {', '.join(others)} »",
                            "reformulez-la, ou retirez la formulation plus courte de l'autre",
                        )
                    )
        return problems
