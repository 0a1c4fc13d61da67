"""Reading a typed French text: words, stop words, negation, and the terms it names.

Shared by the option matcher, the scheme finder and the intents. A text is cut into
normalised words; each word is reduced to a light stem (plural and feminine endings), and
a word not in the vocabulary is corrected to the closest known one when it is clearly a
typo. Stop words (« ou », « est », « un »…) never name anything, and a term that comes
after a negation in the same clause (« pas juste tester ») is not named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from knowledge.loader import normalize

#: words that never name an option, a scheme or an intent by themselves
STOP_WORDS = frozenset(
    """
    a au aux avec ce ces c cet cette d de des du en et est etre es suis sommes etes sont ete
    il ils elle elles j je tu t te toi moi m me mon ma mes ton ta tes son sa ses notre nos
    votre vos leur leurs nous vous on l la le les un une y ou qu que qui quoi quel quelle
    quels quelles dans par pour sur chez ne n s se sa ai as a avons avez ont avoir veux veut
    voudrais voudrions voulons voulez vouloir souhaite souhaitons aimerais fais fait faire
    faisons peux peut pouvons pouvez pourrais vais va allons aller ca cela ceci ici la bien
    tres trop plus moins aussi alors donc car comme si oui ok okay bon bah ben euh hmm svp
    stp merci bonjour salut juste vraiment plutot deja encore tout tous toute toutes chose
    truc genre petit petite jsuis jsui chui
    """.split()  # noqa: SIM905
)
#: after one of these, a term of the same clause is not named (« pas juste tester »)
NEGATIONS = frozenset({"pas", "sans", "ni", "jamais", "non", "aucun", "aucune", "plus"})
#: words that end a clause, and with it a negation
CLAUSE_BREAKS = frozenset({"mais", "et", "ou", "plutot", "car", "donc", "alors"})
#: a word this close to a known one (rapidfuzz ratio) is read as that word
TYPO_SCORE = 85.0
#: words shorter than this are not corrected (too many near neighbours)
TYPO_MIN = 5


def stem(word: str) -> str:
    """A light French stem: « salariés » and « salarié » read the same."""
    if len(word) > 4 and word[-1] in "sx":
        word = word[:-1]
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


_TAG = re.compile(r"<[^>]{0,40}>")
#: words that ask for a comparison when two schemes are named (« scic ou scop ? »)
COMPARE_CUES = frozenset(
    {"ou", "vs", "versus", "difference", "differences", "comparer", "compare", "mieux", "entre"}
)


def strip_tags(text: str) -> str:
    """HTML typed in a message (« <b>asso</b> ») is not part of what it says."""
    return _TAG.sub(" ", text)


def words(text: str) -> list[str]:
    return normalize(strip_tags(text)).split()


@dataclass(frozen=True)
class Term:
    """A phrase that names something (an option, a scheme, an intent), as stems."""

    stems: tuple[str, ...]
    owner: str


@dataclass(frozen=True)
class Reading:
    """A text read once: its stems (negations kept), and which of them are negated."""

    norm: str
    stems: tuple[str, ...]
    negated: tuple[bool, ...]  # the stem follows a negation in its clause
    content: tuple[int, ...]  # positions of the stems that are not stop words or negations

    def occurs(self, term: Term) -> int | None:
        """Where a term occurs, not negated (its first position), or None."""
        size = len(term.stems)
        if not size:
            return None
        for i in range(len(self.stems) - size + 1):
            if self.stems[i : i + size] != term.stems:
                continue
            if self.negated[i] and term.stems[0] not in NEGATIONS:
                continue
            return i
        return None

    def spans(self, terms: Iterable[Term]) -> dict[str, set[int]]:
        """For each owner named by one of `terms`: the content positions its terms cover."""
        out: dict[str, set[int]] = {}
        for term in terms:
            at = self.occurs(term)
            if at is not None:
                out.setdefault(term.owner, set()).update(range(at, at + len(term.stems)))
        return out

    @property
    def content_stems(self) -> tuple[str, ...]:
        return tuple(self.stems[i] for i in self.content)


class Reader:
    """Reads texts against a vocabulary (the stems of every term it will be asked about)."""

    def __init__(self, vocabulary: Iterable[str] = ()) -> None:
        self.vocabulary = sorted({v for v in vocabulary if v and v not in STOP_WORDS})
        self._known = set(self.vocabulary)
        self._long = [v for v in self.vocabulary if len(v) >= TYPO_MIN - 1]
        self._corrected: dict[str, str] = {}

    @staticmethod
    def term_stems(text: str) -> tuple[str, ...]:
        """A term's stems: stop words dropped, negations kept (« sans but lucratif »)."""
        return tuple(stem(w) for w in words(text) if w not in STOP_WORDS or w in NEGATIONS)

    def correct(self, word: str) -> str:
        """The known stem a word stands for (itself when known or not clearly a typo)."""
        base = stem(word)
        if base in self._known or len(word) < TYPO_MIN or word.isdigit():
            return base
        if base not in self._corrected:
            best = process.extractOne(base, self._long, scorer=fuzz.ratio, score_cutoff=TYPO_SCORE)
            self._corrected[base] = best[0] if best else base
            if len(self._corrected) > 50_000:  # typed words are unbounded: keep memory so
                self._corrected.clear()
        return self._corrected[base]

    def read(self, text: str) -> Reading:
        norm = normalize(strip_tags(text))
        stems: list[str] = []
        negated: list[bool] = []
        content: list[int] = []
        negating = False
        for word in norm.split():
            if word in CLAUSE_BREAKS:
                negating = False
            if word in NEGATIONS:
                stems.append(word)
                negated.append(negating)
                negating = True
                continue
            if word in STOP_WORDS:
                continue
            content.append(len(stems))
            stems.append(self.correct(word))
            negated.append(negating)
        return Reading(norm, tuple(stems), tuple(negated), tuple(content))
