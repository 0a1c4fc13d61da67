"""Users read advice, curators read doubts: no curators' vocabulary in anything a person sees.

Renders, through the real dialogue, every fiche, the result of every curators' case and the
routing (contacts and funders) of every case for one place in each of the 18 régions, then looks
for the words curators use among themselves. The list is kept here, on purpose apart from the
one `kb check` uses, so that a change to one is caught by the other.
"""

from __future__ import annotations

import html
import re

import pytest

from bot.dialogue.router import Conversation
from bot.orientation.engine import Session
from knowledge.loader import KnowledgeBase, load_cases
from knowledge.schema import REGIONS

#: what curators write to each other, never to a person (regular expressions, lower case)
CURATORS_VOCABULARY = [
    r"sources? consultées?",
    r"non confirmée?s?",
    r"pas (été )?confirmée?s?",
    # "à vérifier" as a doubt; "à vérifier auprès de X" is advice
    r"(?<!\w)à (re)?vérifier(?! auprès)",
    r"vérifier (le texte|la version|les articles|l'article|qu'il existe)",
    r"selon les sources",
    r"diffèrent selon les sources",
    r"copies? (de textes|publiques)",
    r"légifrance en direct",
    r"pas (directement )?sur légifrance",
    r"sites spécialisés",
    r"nos (sources|références)",
    r"à notre connaissance",
    r"collecte des sources",
    r"source unique",
    r"la source ne précise",
    r"non datée?",
    r"non relevée?",
    r"relevée?s? (dans|sur|sous)",
    r"à actualiser",
    r"à confirmer",
    r"statut à vérifier",
    r"n'a été vu",
    r"montant ancien",
    r"\btodo\b",
    r"\bcurat",
    r"⚠",  # the curators' old marker: user cautions get their own ⚠️ from the templates
]
PATTERN = re.compile("|".join(f"(?:{p})" for p in CURATORS_VOCABULARY))


def plain(text: str) -> str:
    """What the person reads: tags removed, entities decoded, the ⚠️ the templates add dropped."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return text.replace("⚠️", " ").casefold()


def leaks(text: str) -> list[str]:
    found = []
    for match in PATTERN.finditer(plain(text)):
        start = max(match.start() - 50, 0)
        found.append(f"« {match.group(0)} » in: …{plain(text)[start : match.end() + 50]}…")
    return found


def test_the_vocabulary_catches_the_old_warnings() -> None:
    """The list finds what fiches used to show (so a leak test that passes means something)."""
    old = [
        "Les sources consultées sont des copies de textes et de sites, pas Légifrance en direct",
        "⚠ Nom exact non confirmé : seuls les sites franceactive-ara.org ont été relevés",
        "⚠ Les taux diffèrent selon les sources (80 % en 2013 pour Pas-de-Calais Actif)",
        "Statut à vérifier : lors de la collecte des sources (novembre 2026)",
        "Montant de l'abondement non relevé : à vérifier sur le guide des aides",
    ]
    assert all(leaks(text) for text in old)
    assert not leaks("À vérifier auprès de l'association France Active de votre territoire.")
    assert not leaks("⚠️ Réservé aux territoires habilités.")


def test_no_fiche_shows_curators_notes(kb: KnowledgeBase, conversation: Conversation) -> None:
    found = {}
    for scheme in kb.schemes.values():
        text = "\n".join(r.text for r in conversation.fiche(scheme, Session()))
        for note in scheme.curators:
            assert note.text not in html.unescape(text), scheme.id
        if problems := leaks(text):
            found[scheme.id] = problems
    assert not found, found


def finished(conversation: Conversation, answers: dict[str, str]) -> Session:
    """The case's answers to the questions the engine asks (it skips those that cannot matter)."""
    session = Session()
    while (state := conversation.engine.state(session)).question is not None:
        value = answers.get(state.question.id)
        if value is None:
            break
        session = conversation.engine.answer(session, state.question.id, value)
    return session


def one_departement_per_region(conversation: Conversation) -> dict[str, str]:
    places: dict[str, str] = {}
    for code, (_, region) in sorted(conversation.geo.departements.items()):
        if region in REGIONS:  # not the overseas collectivités outside the 18 régions
            places.setdefault(region, f"d:{code}")
    assert set(places) == set(REGIONS)
    return places


def test_no_result_or_routing_shows_curators_notes(
    kb: KnowledgeBase, conversation: Conversation
) -> None:
    places = one_departement_per_region(conversation)
    found: dict[str, list[str]] = {}
    cases = load_cases()
    assert len(cases) >= 20
    shown: set[str] = set()
    results = 0
    for name, case in cases:
        session = finished(conversation, dict(case.answers))
        state = conversation.engine.state(session)
        if state.finished:
            results += 1
            if problems := leaks(conversation.orientation.result_reply(state).text):
                found[f"{name} (résultat)"] = problems
        for region, key in places.items():
            placed = Session(session.answers, key)
            text = conversation.territory.routing_reply(conversation.engine.state(placed)).text
            shown.update(m for m in re.findall(r'href="([^"]+)"', text))
            if problems := leaks(text):
                found[f"{name} ({REGIONS[region]})"] = problems
    assert not found, found
    assert results >= 15  # most cases end on a result
    assert len(shown) > 20  # the routing did show contacts and funders


def test_no_contact_or_funder_text_has_curators_words(kb: KnowledgeBase) -> None:
    """Every contact and funder, even those no case above reaches: what they may show."""
    found = {}
    for item in [*kb.contacts, *kb.funders]:
        text = " ".join(filter(None, [item.name, item.what, item.caution]))
        if problems := leaks(text):
            found[item.id] = problems
    assert not found, found


@pytest.mark.parametrize("field", ["text", "help"])
def test_no_question_text_has_curators_words(kb: KnowledgeBase, field: str) -> None:
    found = {}
    for question in kb.tree.questions:
        texts = [getattr(question, field)]
        for option in question.options:
            texts += [option.label, option.note or "", *(e.reason for e in option.effects)]
        if problems := leaks(" ".join(texts)):
            found[question.id] = problems
    assert not found, found
