"""The dialogue every channel shares, on the real knowledge base: what the person sees."""

from __future__ import annotations

import pytest

from bot.dialogue.router import Conversation
from bot.orientation.engine import Session
from bot.screens.render import TELEGRAM_LIMIT, html_to_text, split_message
from bot.screens.views import Action, Kind, Reply, Turn
from knowledge.loader import KnowledgeBase
from tests.telegram_html import html_errors


def labels(reply: Reply) -> list[str]:
    return [b.label for row in reply.buttons for b in row]


def texts(turn: Turn) -> str:
    return "\n".join(html_to_text(r.text) for r in turn.replies)


def assert_telegram_ok(turn: Turn) -> None:
    for reply in turn.replies:
        for part in split_message(reply.text):
            assert len(part) <= TELEGRAM_LIMIT
            assert html_errors(part) == [], part
        for button in (b for row in reply.buttons for b in row):
            assert 0 < len(button.label) <= 64


def all_labels(turn: Turn) -> list[str]:
    return [label for reply in turn.replies for label in labels(reply)]


def click(conv: Conversation, turn: Turn, label: str) -> Turn:
    for reply in reversed(turn.replies):
        for row in reply.buttons:
            for b in row:
                if b.label == label and b.action is not None:
                    new = conv.handle_action(turn.session, b.action)
                    assert_telegram_ok(new)
                    return new
    raise AssertionError(f"no button {label!r} in {all_labels(turn)}")


def test_welcome_says_what_the_bot_does_and_asks_who_speaks(conversation: Conversation) -> None:
    turn = conversation.welcome(Session())
    assert_telegram_ok(turn)
    text = texts(turn)
    assert "Bienvenue sur Boussole" in text and "pas de conseil juridique" in text
    assert "Pour commencer, qui êtes-vous ?" in text
    assert labels(turn.replies[-1])[:5] == [
        "Porteur·se de projet ou collectif",
        "Une association existante",
        "Une collectivité",
        "Une entreprise",
        "Un réseau ESS qui accompagne",
    ]


def test_full_orientation_by_buttons_la_voisinerie(conversation: Conversation) -> None:
    turn = conversation.welcome(Session())
    for label in [
        "Un réseau ESS qui accompagne",
        "Un·e porteur·se de projet",
        "Un lieu partagé (café, atelier, tiers-lieu)",
        "Plusieurs catégories (salariés, usagers, ville…)",
        "Oui, avec un local",
    ]:  # the sector, the purpose and the stage cannot change the top three: not asked
        turn = click(conversation, turn, label)
    text = texts(turn)
    assert "Voici ce que je vous recommande" in text
    assert "1. Société coopérative d'intérêt collectif" in text
    assert "Bail Commercial d'Utilité Sociale" in text
    assert "Pourquoi" in text and "« Plusieurs catégories (salariés, usagers, ville…) »" in text
    assert "Également étudiés" not in text  # nothing else scored for them
    assert "Où se situe votre projet ?" in text  # the territory is asked after the result
    assert any(label.startswith("📄 SCIC") for label in all_labels(turn))
    # a fiche opens from the result, and leads back to it
    turn = click(conversation, turn, next(x for x in all_labels(turn) if "SCIC" in x))
    assert "Premier pas" in texts(turn) and len(turn.replies[0].text) <= 1000  # short view
    turn = click(conversation, turn, "📚 Sources")
    assert "Sources" in texts(turn)
    turn = click(conversation, turn, "↩️ Voir mon résultat")
    assert "Voici ce que je vous recommande" in texts(turn)
    # the territory, typed: contacts and funders near the project
    turn = conversation.handle_text(turn.session, "59000 Lille")
    assert_telegram_ok(turn)
    assert turn.changed and turn.session.place == "c:59350"
    assert "Lille (59), Hauts-de-France" in texts(turn)
    assert "Qui peut vous accompagner" in texts(turn)
    # going back undoes the last answer, the place stays
    answered = turn.session.step
    turn = conversation.handle_text(turn.session, "retour")
    assert turn.session.place == "c:59350" and turn.session.step == answered - 1


@pytest.mark.parametrize(
    ("typed", "question"),
    [
        ("collectivite", "Quel enjeu voulez-vous traiter en priorité ?"),
        ("Collectivité", "Quel enjeu voulez-vous traiter en priorité ?"),
        ("colectivite", "Quel enjeu voulez-vous traiter en priorité ?"),
        ("3", "Quel enjeu voulez-vous traiter en priorité ?"),
        ("mairie", "Quel enjeu voulez-vous traiter en priorité ?"),
        ("entreprise", "Que souhaite faire l'entreprise ?"),
        ("CRESS", "Qui accompagnez-vous ?"),
    ],
)
def test_typed_answers_are_matched_fuzzily(
    conversation: Conversation, typed: str, question: str
) -> None:
    turn = conversation.handle_text(Session(), typed)
    assert turn.changed
    assert question in texts(turn)


def test_unclear_text_gets_suggestions_or_a_clear_answer(conversation: Conversation) -> None:
    turn = conversation.handle_text(Session(), "banane flambée")
    assert not turn.changed and turn.session == Session()
    assert "Je n'ai pas compris « banane flambée »" in texts(turn)
    assert "Pour commencer, qui êtes-vous ?" in texts(turn)


def test_commands_back_restart_help(conversation: Conversation) -> None:
    turn = conversation.handle_text(Session(), "retour")
    assert "Vous êtes déjà à la première question." in texts(turn)
    turn = conversation.handle_text(Session(), "entreprise")
    turn = conversation.handle_text(turn.session, "aide")
    assert "Les partenariats entre entreprises et ESS prennent plusieurs formes" in texts(turn)
    turn = conversation.handle_text(turn.session, "retour")
    assert turn.session == Session() and "qui êtes-vous" in texts(turn)
    turn = conversation.handle_text(Session((("profil", "entreprise"),)), "/recommencer")
    assert turn.session == Session() and "C'est reparti de zéro" in texts(turn)


def test_fiche_by_typed_name(conversation: Conversation) -> None:
    turn = conversation.handle_text(Session(), "fiche zero chomeur")
    assert "Territoires zéro chômeur" in texts(turn)
    turn = conversation.handle_text(Session(), "/fiche xylophone")
    assert "Je ne trouve pas de fiche pour « xylophone »" in texts(turn)


def test_every_fiche_is_valid_telegram_html_and_split_under_the_limit(
    conversation: Conversation, kb: KnowledgeBase
) -> None:
    for scheme in kb.schemes.values():
        replies = conversation.fiche(scheme, Session())
        turn = Turn(Session(), replies, False)
        assert_telegram_ok(turn)
        assert scheme.name in texts(turn) and "Premier pas" in texts(turn)
        sources = conversation.handle_action(Session(), Action(Kind.fiche, f"{scheme.id}:sources"))
        assert_telegram_ok(sources)
        assert "Sources" in texts(sources) and "[1]" in texts(sources)


def test_schemes_list_has_every_scheme(conversation: Conversation, kb: KnowledgeBase) -> None:
    turn = conversation.handle_text(Session((("profil", "porteur"),)), "fiches")
    assert_telegram_ok(turn)
    assert len(labels(turn.replies[-1])) == len(kb.schemes) + 1


def test_stale_button_changes_nothing_and_says_where_you_are(conversation: Conversation) -> None:
    turn = conversation.welcome(Session())
    turn = click(conversation, turn, "Une entreprise")
    back_then = conversation.handle_action(
        turn.session, Action(Kind.answer, "collectivite", "profil", 0)
    )
    assert back_then.session == turn.session and not back_then.changed
    assert "Ce bouton n'est plus valable" in texts(back_then)
    assert "Que souhaite faire l'entreprise ?" in texts(back_then)


def test_double_click_is_silently_absorbed(conversation: Conversation) -> None:
    first = conversation.welcome(Session())
    action = first.replies[-1].buttons[2][0].action  # "Une collectivité"
    assert action is not None
    once = conversation.handle_action(first.session, action)
    twice = conversation.handle_action(once.session, action)
    assert twice.session == once.session and twice.replies == [] and not twice.changed
    assert twice.notice == "Réponse déjà prise en compte."


@pytest.mark.parametrize(
    "forged",
    [
        Action(Kind.answer, "martien", "profil", 0),
        Action(Kind.answer, "porteur", "question_inventee", 0),
        Action(Kind.fiche, "n_existe_pas"),
        Action(Kind.back, step=42),
    ],
)
def test_forged_buttons_change_nothing(conversation: Conversation, forged: Action) -> None:
    turn = conversation.handle_action(Session(), forged)
    assert turn.session == Session() and not turn.changed
    assert "qui êtes-vous" in texts(turn)


@pytest.mark.parametrize(
    "text", ["", "   ", "<script>alert(1)</script>", "a & b <b>gras</b>", "x" * 4000, "🦄" * 50]
)
def test_odd_messages_get_a_clear_answer_and_lose_nothing(
    conversation: Conversation, text: str
) -> None:
    start = Session((("profil", "collectivite"),))
    turn = conversation.handle_text(start, text)
    assert_telegram_ok(turn)
    assert turn.session == start and not turn.changed
    shown = texts(turn)
    assert "Quel enjeu voulez-vous traiter en priorité ?" in shown or "Vouliez-vous dire" in shown
    if "<" in text:
        assert "&lt;" in turn.replies[0].text


def test_deep_links_open_a_branch_or_a_fiche(conversation: Conversation) -> None:
    turn = conversation.welcome(Session(), "collectivite")
    assert turn.changed and turn.session == Session((("profil", "collectivite"),))
    assert "Quel enjeu voulez-vous traiter en priorité ?" in texts(turn)
    turn = conversation.welcome(Session(), "fiche-scic")
    assert "Société coopérative d'intérêt collectif" in texts(turn)
    turn = conversation.welcome(Session(), "n'importe quoi")
    assert turn.session.answers == () and "qui êtes-vous" in texts(turn)


def test_welcome_resumes_a_conversation_in_progress(conversation: Conversation) -> None:
    turn = conversation.welcome(Session((("profil", "entreprise"),)))
    assert "Reprenons où vous en étiez (1 réponse déjà donnée)" in texts(turn)
    assert "Que souhaite faire l'entreprise ?" in texts(turn)


def test_split_message_keeps_every_part_under_the_limit() -> None:
    text = "\n\n".join(f"<b>Titre {i}</b>\n" + ("mot " * 300) for i in range(20))
    parts = split_message(text)
    assert len(parts) > 1
    assert all(len(p) <= TELEGRAM_LIMIT and html_errors(p) == [] for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_answers_from_an_older_knowledge_base_are_dropped_with_a_word(
    conversation: Conversation,
) -> None:
    old = Session((("profil", "entreprise"), ("entreprise_objectif", "option_retiree")))
    turn = conversation.welcome(old)
    assert turn.changed and turn.session == Session((("profil", "entreprise"),))
    assert "Boussole a été mise à jour" in texts(turn)
    assert "Que souhaite faire l'entreprise ?" in texts(turn)


def test_contacts_mid_orientation_then_back_to_the_question(conversation: Conversation) -> None:
    start = Session((("profil", "collectivite"),))
    turn = conversation.handle_text(start, "contacts")
    assert turn.session.asking_place and "Où se situe votre projet ?" in texts(turn)
    turn = conversation.handle_text(turn.session, "Saint-Denis")
    assert turn.session.place is None and turn.session.answers == start.answers
    assert "Plusieurs lieux correspondent à « Saint-Denis »" in texts(turn)
    assert {"Saint-Denis (93)", "Saint-Denis (974)"} <= set(all_labels(turn))
    turn = click(conversation, turn, "Saint-Denis (974)")
    assert turn.session.place == "c:97411" and not turn.session.asking_place
    text = texts(turn)
    assert "Saint-Denis (974), La Réunion" in text and "Qui peut vous accompagner" in text
    assert text.count("Voici ce que je vous recommande") == 0
    assert "Quel enjeu voulez-vous traiter en priorité ?" in text  # the orientation goes on


def test_unknown_territory_offers_the_regions_as_buttons(conversation: Conversation) -> None:
    finished = Session(
        (
            ("profil", "entreprise"),
            ("entreprise_objectif", "soutenir"),
            ("entreprise_partenaire", "association"),
            ("engagement", "ponctuel"),
            ("finalite", "utilite_sociale"),
            ("stade", "existant"),
        )
    )
    turn = conversation.handle_text(finished, "Atlantide")
    assert_telegram_ok(turn)
    assert "Je ne trouve pas « Atlantide »" in texts(turn)
    assert len(turn.replies[0].text) < 300  # never the 101 départements on one line
    assert {"Bretagne", "Normandie", "La Réunion", "Corse"} <= set(all_labels(turn))
    assert turn.effects and turn.effects[0].kind == "place"  # type: ignore[union-attr]
    skipped = click(conversation, turn, "Passer cette étape")
    assert skipped.session.place == "-"
    assert "Sans lieu précis" in texts(skipped)
    assert texts(skipped).count("Voici ce que je vous recommande") == 0


def test_forged_territory_button_changes_nothing(conversation: Conversation) -> None:
    start = Session((("profil", "collectivite"),))
    turn = conversation.handle_action(start, Action(Kind.place, "c:99999"))
    assert turn.session == start and not turn.changed
    assert "Ce bouton n'est plus valable" in texts(turn)


def test_forget_then_start_again_in_any_channel(conversation: Conversation) -> None:
    turn = conversation.handle_text(Session((("profil", "porteur"),)), "oublier")
    assert "Tout effacer ?" in texts(turn) and not turn.erase
    done = click(conversation, turn, "🗑 Oui, tout effacer")
    assert done.erase and done.session == Session() and "Tapez /start" in texts(done)
    again = conversation.handle_text(done.session, "/start")
    assert "Question 1" in texts(again)


def test_button_data_round_trips_and_refuses_forgeries(conversation: Conversation) -> None:
    from bot.screens.views import CALLBACK_LIMIT, decode_action, encode_action

    for question in conversation.kb.tree.questions:
        for option in question.options:
            action = Action(Kind.answer, option.value, question.id, 999)
            data = encode_action(action)
            assert len(data.encode()) <= CALLBACK_LIMIT
            assert decode_action(data) == action
    for forged in ["", "zzz", "q|1|a|b", "a|x|q|v", "a|1|q", "a|12345|q|v", "a" * 65]:
        assert decode_action(forged) is None
    with pytest.raises(ValueError):
        encode_action(Action(Kind.fiche, "x" * 70))
