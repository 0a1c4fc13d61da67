"""Typed language and the dialogue around it (issues 13 and 18), in the dialogue every
channel shares: what a typed text means, what is recorded, and what the person sees."""

from __future__ import annotations

import io
import statistics
from pathlib import Path

import pytest

from bot.channels.console import Console
from bot.dialogue.evaluation import (
    PLACES_FILE,
    TYPED_FILE,
    load_set,
    path_to,
    play_places,
    play_typed,
)
from bot.dialogue.intents import IntentMatcher
from bot.dialogue.router import Conversation
from bot.dialogue.service import ChatService
from bot.leads.partners import Operator, Organisation, Partners
from bot.orientation.cases import asked_answers
from bot.orientation.engine import Session
from bot.platform.storage import ConversationStore, unrecognised
from bot.screens.render import html_to_text
from bot.screens.views import Action, Kind, Turn, decode_action
from knowledge.intents import load_intents
from knowledge.loader import KnowledgeBase, load_cases
from tests.test_conversation import all_labels, assert_telegram_ok, click, texts

PORTEUR_LIEU = Session((("profil", "porteur"), ("projet_porteur", "lieu")))


def at(conversation: Conversation, question: str) -> Session:
    session = path_to(conversation.engine, question)
    assert session is not None
    return session


def next_question(conversation: Conversation, session: Session) -> str:
    """The text of the question the engine asks next after `session`."""
    question = conversation.engine.state(session).question
    assert question is not None and question.id != "profil"
    return question.text


def finished(conversation: Conversation) -> Session:
    name, case = next((n, c) for n, c in load_cases() if n.startswith("seeds.yaml"))
    session = Session(asked_answers(conversation.engine, case))
    assert conversation.engine.state(session).finished, name
    return session


# ---------------------------------------------------------------- #13.1 no silent capture


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("scic ou scop ?", "côte à côte"),
        ("c'est quoi un PTCE", "Pôle territorial de coopération économique"),
        ("vous êtes un robot ?", "assistant automatique"),
        ("je veux créer une scop", "Société coopérative et participative"),
        ("c'est quoi une scic", "Société coopérative d'intérêt collectif"),
        ("zéro chômeur", "Territoires zéro chômeur"),
        ("je cherche des financements", "Où se situe votre projet ?"),
        ("je veux ouvrir un café associatif dans mon village", "Vouliez-vous dire"),
        ("ou", "Pour commencer, qui êtes-vous ?"),
        ("est", "Pour commencer, qui êtes-vous ?"),
        ("un", "Pour commencer, qui êtes-vous ?"),
    ],
)
def test_nothing_is_recorded_that_the_person_did_not_answer(
    conversation: Conversation, typed: str, shown: str
) -> None:
    start = conversation.welcome(Session()).session
    turn = conversation.handle_text(start, typed)
    assert_telegram_ok(turn)
    assert turn.session.answers == ()
    assert shown in texts(turn)


def test_a_phrase_naming_one_option_is_its_answer(conversation: Conversation) -> None:
    start = conversation.welcome(Session()).session
    turn = conversation.handle_text(start, "je suis maire")
    assert turn.session.answers == (("profil", "collectivite"),)
    assert next_question(conversation, turn.session) in texts(turn)


# ---------------------------------------------------------------- #13.2 schemes named


def test_a_scheme_named_shows_its_short_view_with_a_way_back(conversation: Conversation) -> None:
    start = at(conversation, "associes")
    turn = conversation.handle_text(start, "comment marche le bail commercial d'utilité sociale")
    assert turn.session.answers == start.answers
    assert "Bail" in texts(turn) and len(turn.replies[0].text) <= 1000
    back = click(conversation, turn, "↩️ Reprendre")
    assert "Qui voulez-vous associer" in texts(back)


# ---------------------------------------------------------------- #13.3 comparison


@pytest.mark.parametrize(
    "typed",
    [
        "scic ou scop ?",
        "quelle différence entre scic et scop",
        "SCOP vs SCIC",
        "/comparer scic scop",
    ],
)
def test_two_schemes_side_by_side(conversation: Conversation, typed: str) -> None:
    turn = conversation.handle_text(Session((("profil", "porteur"),)), typed)
    assert_telegram_ok(turn)
    text = texts(turn)
    assert "côte à côte" in text and len(turn.replies[0].text) <= 2500
    for dimension in (
        "Pour qui",
        "Qui décide",
        "Capital",
        "Bénéfices",
        "collectivité",
        "Premier pas",
    ):
        assert dimension in text, dimension
    assert text.count("• SCIC :") >= 6 and text.count("• SCOP :") >= 6
    assert {"📄 SCIC", "📄 SCOP"} <= set(all_labels(turn))


def test_every_pair_and_triple_fits_a_phone(conversation: Conversation, kb: KnowledgeBase) -> None:
    from itertools import combinations

    lengths = [
        len(conversation.comparison.compare(Session(), list(group)).replies[0].text)
        for n in (2, 3)
        for group in combinations(kb.schemes.values(), n)
    ]
    assert max(lengths) <= 2500


def test_one_or_four_schemes_are_answered_politely(conversation: Conversation) -> None:
    one = conversation.handle_text(Session(), "/comparer scic")
    assert "au moins deux" in texts(one)
    many = conversation.handle_text(Session(), "/comparer scic scop cae ptce")
    assert "deux ou trois" in texts(many)


def test_a_result_with_several_schemes_has_a_compare_button(conversation: Conversation) -> None:
    turn = conversation.welcome(finished(conversation))
    turn = conversation.handle_action(turn.session, Action(Kind.current))
    turn = click(conversation, turn, "⚖️ Comparer")
    assert "côte à côte" in texts(turn)


# ---------------------------------------------------------------- #13.4 intents as data


def test_intents_file_is_checked(tmp_path: Path, kb: KnowledgeBase) -> None:
    assert IntentMatcher(kb.intents).conflicts() == []
    (tmp_path / "intents.yaml").write_text(
        "intents:\n"
        "  - {id: a, examples: [bonjour, salut], answer: x}\n"
        "  - {id: a, examples: [Salut], answer: y}\n"
        "  - {id: b, examples: [merci], answer: z, action: voler}\n",
        encoding="utf-8",
    )
    _, problems = load_intents(tmp_path)
    assert any("actions possibles" in p.fix for p in problems)
    (tmp_path / "intents.yaml").write_text(
        "intents:\n"
        "  - {id: a, examples: [bonjour, salut], answer: x}\n"
        "  - {id: a, examples: [Salut], answer: y}\n",
        encoding="utf-8",
    )
    intents, problems = load_intents(tmp_path)
    messages = " ".join(p.message for p in problems)
    assert "identifiant en double" in messages and "formulation en double" in messages
    (tmp_path / "intents.yaml").write_text(
        "intents:\n"
        "  - {id: a, examples: [aide], answer: x}\n"
        "  - {id: b, examples: [une aide financiere], answer: y}\n",
        encoding="utf-8",
    )
    intents, problems = load_intents(tmp_path)
    assert problems == []
    conflicts = IntentMatcher(intents).conflicts()
    assert conflicts and "aussi reconnue par « a »" in conflicts[0].message


def test_a_contact_question_with_a_place_sets_it_and_answers(conversation: Conversation) -> None:
    turn = conversation.handle_text(
        Session((("profil", "porteur"),)), "qui peut m'aider en Bretagne ?"
    )
    assert turn.session.place == "r:53" and turn.session.answers == (("profil", "porteur"),)
    assert "Qui peut vous accompagner" in texts(turn) and "Bretagne" in texts(turn)


# ---------------------------------------------------------------- #13 measured


def test_typed_evaluation_set(conversation: Conversation) -> None:
    items = load_set(TYPED_FILE, "messages")
    assert len(items) >= 200
    results = play_typed(conversation, items)
    wrong = [r for r in results if r.wrong_answer]
    assert wrong == []  # never an answer the person did not give
    share = sum(r.right for r in results) / len(results)
    missed = [(r.at, r.text, r.got) for r in results if not r.right]
    assert share >= 0.95, missed


def test_places_evaluation_set(conversation: Conversation) -> None:
    items = load_set(PLACES_FILE, "places")
    assert len(items) >= 300
    results = play_places(conversation.geo, items)
    assert [r.query for r in results if r.wrong_taken] == []  # no silent wrong place
    share = sum(r.right for r in results) / len(results)
    assert share >= 0.98, [(r.query, r.status, r.deps) for r in results if not r.right]


# ---------------------------------------------------------------- #18.1 suggestions


def test_a_number_is_the_last_list_shown_and_oui_confirms_one(conversation: Conversation) -> None:
    start = conversation.welcome(Session()).session
    turn = conversation.handle_text(start, "on veut fonder une coopérative entre amis")
    assert turn.session.answers == ()
    assert "Vouliez-vous dire" in texts(turn) and "Porteur·se de projet ou collectif" in all_labels(
        turn
    )
    assert all_labels(turn)[0] == "Porteur·se de projet ou collectif"  # nearest in meaning
    one = conversation.handle_text(turn.session, "1")  # the first suggestion, not option 1
    assert one.session.answers == (("profil", "porteur"),)
    # « oui » confirms a single suggestion
    turn = conversation.handle_text(start, "je travaille à la cress")
    assert [decode_action(a) for a in turn.session.offer] == [
        Action(Kind.answer, "reseau", "profil", 0)
    ]
    yes = conversation.handle_text(turn.session, "oui")
    assert yes.session.answers == (("profil", "reseau"),)


def test_after_a_result_one_opens_the_first_fiche(conversation: Conversation) -> None:
    session = finished(conversation)
    result = conversation.handle_action(session, Action(Kind.current))
    first_fiche = next(x for x in all_labels(result) if x.startswith("📄"))
    turn = conversation.handle_text(result.session, "1")
    assert turn.session.place is None  # the place question is not skipped
    assert first_fiche.removeprefix("📄 ") in texts(turn)


def test_a_quote_is_cut_at_a_word(conversation: Conversation) -> None:
    text = "je voudrais vraiment savoir " + "quelque chose de très long " * 10
    turn = conversation.handle_text(Session((("profil", "porteur"),)), text)
    quoted = texts(turn).split("« ", 1)[1].split(" »", 1)[0]
    assert quoted.endswith("…") and len(quoted) <= 61 and text.startswith(quoted[:-1])


def test_the_console_numbers_the_list_as_the_dialogue_does(
    conversation: Conversation, tmp_path: Path
) -> None:
    import asyncio

    async def run() -> str:
        store = ConversationStore(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
        await store.migrate()
        out = io.StringIO()
        stdin = io.StringIO("on veut fonder une coopérative entre amis\n1\n")
        console = Console(ChatService(conversation, store), stdin=stdin, stdout=out)
        await console.run()
        session, _ = await store.load("console:local")
        await store.close()
        assert session.answers == (("profil", "porteur"),)
        return out.getvalue()

    shown = asyncio.run(run())
    assert "1. Porteur·se de projet ou collectif" in shown.split("Vouliez-vous dire")[1]


# ---------------------------------------------------------------- #18.2 the first message


def test_a_sentence_before_start_gets_the_welcome_and_the_first_question(
    conversation: Conversation,
) -> None:
    turn = conversation.handle_text(Session(), "je suis maire")
    assert "Bienvenue sur Boussole" in texts(turn)
    assert turn.session.answers == (("profil", "collectivite"),)
    assert next_question(conversation, turn.session) in texts(turn)
    turn = conversation.handle_text(Session(), "blabla")
    assert "Bienvenue sur Boussole" in texts(turn) and "qui êtes-vous ?" in texts(turn)
    assert texts(turn).count("qui êtes-vous ?") == 1


# ---------------------------------------------------------------- #18.3 negation, shared words


def test_negation_and_shared_words(conversation: Conversation) -> None:
    start = at(conversation, "test_activite")
    turn = conversation.handle_text(start, "je veux m'installer pour de bon, pas juste tester")
    assert turn.session.answers == start.answers
    assert "Tester mon activité quelques mois" not in [
        b.label for r in turn.replies[:1] for row in r.buttons for b in row
    ]
    finalite = at(conversation, "finalite")
    turn = conversation.handle_text(finalite, "en vivre")
    assert turn.session.answers == finalite.answers


# ---------------------------------------------------------------- #18.4 old buttons, help


def test_back_on_an_old_result_goes_back_one_answer(conversation: Conversation) -> None:
    session = finished(conversation)
    old = conversation.handle_action(session, Action(Kind.current))
    placed = conversation.handle_action(old.session, Action(Kind.place, "r:28"))
    back = next(
        b.action for r in old.replies for row in r.buttons for b in row if b.label == "← Retour"
    )
    assert back is not None
    turn = conversation.handle_action(placed.session, back)
    assert turn.session.answers == session.answers[:-1] and turn.session.place == "r:28"


def test_an_old_skip_button_is_refused_and_keeps_the_place(conversation: Conversation) -> None:
    session = finished(conversation)
    prompt = conversation.handle_action(session, Action(Kind.current))
    placed = conversation.handle_action(prompt.session, Action(Kind.place, "r:28"))
    skip = click(conversation, Turn(placed.session, prompt.replies, False), "Passer cette étape")
    assert skip.session.place == "r:28" and "plus valable" in texts(skip)


def test_help_and_start_answer_briefly(conversation: Conversation) -> None:
    start = Session((("profil", "porteur"),))
    help_button = conversation.handle_action(start, Action(Kind.help, "", "projet_porteur", 1))
    assert help_button.edit and len(help_button.replies) == 1 and "💡" in texts(help_button)
    typed = conversation.handle_text(start, "aide")
    assert len(typed.replies) == 1 and "Comment utiliser Boussole" in texts(typed)
    again = conversation.welcome(finished(conversation))
    assert len(again.replies) == 2  # the welcome and a way to the result, not it again
    assert "Voici ce que je vous recommande" not in texts(again)


# ---------------------------------------------------------------- #18.5 the place prompt


def test_the_place_prompt_tries_schemes_and_intents_first(conversation: Conversation) -> None:
    asking = Session((("profil", "porteur"),), None, True)
    fiche = conversation.handle_text(asking, "c'est quoi une scic")
    assert "Société coopérative d'intérêt collectif" in texts(fiche)
    thanks = conversation.handle_text(asking, "merci")
    assert "Avec plaisir" in texts(thanks) and thanks.session.place is None
    lost = conversation.handle_text(asking, "quelque part par là")
    assert "Je ne trouve pas « quelque part par là »" in texts(lost)
    assert len(lost.replies[0].text) < 300 and "Bretagne" in all_labels(lost)


# ---------------------------------------------------------------- #18.7 messages that fit a phone


def message_lengths(conversation: Conversation, kb: KnowledgeBase) -> dict[str, list[int]]:
    """Every fiche (short view and sections), every curators' case's result, and the
    routing for one place in each région."""
    out: dict[str, list[int]] = {"short": [], "messages": []}
    for scheme in kb.schemes.values():
        short = conversation.fiche(scheme, Session())
        out["short"].append(len(short[0].text))
        for name in conversation.fiches._sections(scheme):
            arg = f"{scheme.id}:{name}"
            turn = conversation.handle_action(Session(), Action(Kind.fiche, arg))
            out["messages"] += [len(r.text) for r in turn.replies]
    for _, case in load_cases():
        session = Session(tuple(case.answers.items()))
        if conversation.engine.state(session).finished:
            out["messages"] += [len(r.text) for r in conversation.screen(session)]
    session = finished(conversation)
    for code in conversation.geo.regions:
        placed = conversation.handle_action(session, Action(Kind.place, f"r:{code}"))
        out["messages"] += [len(r.text) for r in placed.replies]
        more = conversation.handle_action(placed.session, Action(Kind.contacts, "more"))
        out["messages"] += [len(r.text) for r in more.replies]
    return out


def test_messages_fit_a_phone(conversation: Conversation, kb: KnowledgeBase) -> None:
    lengths = message_lengths(conversation, kb)
    assert max(lengths["short"]) <= 1000, statistics.median(lengths["short"])
    assert max(lengths["messages"]) <= 2500


# ---------------------------------------------------------------- #13.6, #13.7, #18.6 stored


async def test_each_update_once_and_orientations_counted_once(
    conversation: Conversation, database_url: str
) -> None:
    store = ConversationStore(database_url)
    await store.migrate()
    service = ChatService(conversation, store)
    try:
        key = "tg:77"
        await service.start(key, update_id=1)
        await service.text(key, "1", update_id=2)
        again = await service.text(key, "1", update_id=2)  # redelivered: changes nothing
        assert again.replies == []
        assert (await store.load(key))[0].answers == (("profil", "porteur"),)
        # finish, change an answer after the result, finish again: counted once
        session = finished(conversation)
        await store.delete(key)
        answers = session.answers
        await service.start(key)
        for question, value in answers:
            await service.action(
                key, Action(Kind.answer, value, question, len((await store.load(key))[0].answers))
            )
        await service.action(key, Action(Kind.back, step=len(answers)))
        last_q, last_v = answers[-1]
        await service.action(key, Action(Kind.answer, last_v, last_q, len(answers) - 1))
        orientations = await service.leads.orientations()
        assert len(orientations) == 1
        # restarting makes a new orientation
        await service.action(key, Action(Kind.restart, step=len(answers)))
        for question, value in answers:
            step = len((await store.load(key))[0].answers)
            await service.action(key, Action(Kind.answer, value, question, step))
        assert len(await service.leads.orientations()) == 2
    finally:
        await store.close()


async def test_unrecognised_messages_are_counted_never_kept(
    conversation: Conversation, database_url: str
) -> None:
    store = ConversationStore(database_url)
    await store.migrate()
    partners = Partners(
        organisations=[Organisation(id="cress_bzh", name="CRESS", email="a@cress.example")],
        operators=[Operator(telegram_user_id=99, organisation="cress_bzh")],
    )
    service = ChatService(Conversation(conversation.kb, partners=partners), store)
    try:
        await service.start("tg:78")
        await service.text("tg:78", "xyzzy plugh secret words")
        await service.text("tg:78", "on veut fonder une coopérative entre amis")
        counts = await unrecognised(store.engine)
        assert counts == {"question": 1, "suggested": 1}
        async with store.engine.connect() as conn:
            from sqlalchemy import text

            rows = (await conn.execute(text("SELECT * FROM unrecognised"))).all()
            dump = (
                " ".join(str(r) for r in rows)
                + (await conn.execute(text("SELECT session_json FROM conversations"))).scalar_one()
            )
        assert "xyzzy" not in dump and "plugh" not in dump
        stats = await service.text("tg:99", "/stats")
        assert "Messages non compris" in html_to_text(stats.replies[0].text)
    finally:
        await store.close()


def test_the_compare_button_fits_telegram_for_long_ids() -> None:
    from bot.orientation.dialogue import compare_ids
    from bot.screens.views import encode_action

    ids = compare_ids(
        ["alliance_cooperation_economique", "innovation_societale", "pratiques_responsables"]
    )
    assert ids == "alliance_cooperation_economique+innovation_societale"
    assert len(encode_action(Action(Kind.compare, ids)).encode()) <= 64
    assert compare_ids(["scic"]) is None


def test_oui_confirms_a_single_place_proposed(conversation: Conversation) -> None:
    session = finished(conversation)
    turn = conversation.handle_text(session, "colombelle")
    assert "Colombelles (14) ? Tapez « oui » pour confirmer" in texts(turn)
    assert turn.session.place is None
    confirmed = conversation.handle_text(turn.session, "oui")
    assert confirmed.session.place == "c:14167"


# ---------------------------------------------------------------- a place typed at a question


def test_a_place_typed_at_a_question_is_proposed_never_taken(conversation: Conversation) -> None:
    session = at(conversation, "collectivite_enjeu")
    turn = conversation.handle_text(session, "Colombelles")
    assert_telegram_ok(turn)
    assert turn.session.place is None and turn.session.answers == session.answers
    shown = texts(turn)
    assert "« Colombelles » : est-ce le lieu de votre projet ?" in shown
    assert next_question(conversation, session) in shown  # the question is asked again
    labels = all_labels(turn)
    options = [o.label for o in conversation.engine.state(session).question.options]  # type: ignore[union-attr]
    assert labels[: len(options)] == options  # the answers keep their numbers
    assert labels[len(options)] == "📍 Oui, c'est Colombelles (14)"
    # « 1 » still answers the question
    one = conversation.handle_text(turn.session, "1")
    assert one.session.answers[-1][0] == "collectivite_enjeu" and one.session.place is None


def test_the_proposed_place_kept_is_used_at_the_end_without_asking(
    conversation: Conversation,
) -> None:
    session = at(conversation, "collectivite_enjeu")
    turn = conversation.handle_text(session, "14460")  # a postal code reads as a place too
    kept = click(conversation, turn, "📍 Oui, c'est Colombelles (14)")
    assert kept.session.place == "c:14167" and kept.session.answers == session.answers
    assert "C'est noté : Colombelles (14)" in texts(kept)
    assert next_question(conversation, session) in texts(kept)  # carry on where it was
    assert "Qui peut vous accompagner" not in texts(kept)  # contacts come with the result
    state = conversation.engine.state(kept.session)
    s = kept.session
    while state.question is not None:
        s = conversation.handle_action(
            s, Action(Kind.answer, state.question.options[0].value, state.question.id, s.step)
        ).session
        state = conversation.engine.state(s)
    end = conversation.screen(s)
    assert not any("Où se situe votre projet" in r.text for r in end)
    assert any("Colombelles" in html_to_text(r.text) for r in end)


def test_no_proposal_for_a_number_the_same_place_or_an_old_button(
    conversation: Conversation,
) -> None:
    session = at(conversation, "collectivite_enjeu")
    assert "est-ce le lieu" not in texts(conversation.handle_text(session, "14"))
    placed = Session(session.answers, "c:14167")
    assert "est-ce le lieu" not in texts(conversation.handle_text(placed, "Colombelles"))
    turn = conversation.handle_text(session, "Colombelles")
    moved = conversation.handle_text(turn.session, "1").session  # answered since
    keep = Action(Kind.place, "c:14167", "later", session.step)
    stale = conversation.handle_action(moved, keep)
    assert stale.session.place is None  # an old proposal changes nothing
    done = finished(conversation)
    forged = conversation.handle_action(done, Action(Kind.place, "c:14167", "later", done.step))
    assert forged.session.place is None  # after the result, only the place screen sets it
