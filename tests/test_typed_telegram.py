"""Issues 13 and 18 over Telegram: the real PTB Application with the offline Bot API
(which refuses what Telegram would refuse), on SQLite and PostgreSQL."""

from __future__ import annotations

from telegram import Update

from bot.orientation.cases import asked_answers
from knowledge.loader import KnowledgeBase
from tests.test_telegram import Harness, option_label
from tests.test_telegram import bot as bot  # the same fixture: the real Application, offline


async def test_typed_text_never_records_what_was_not_said(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    await user.send("scic ou scop ?")
    assert "côte à côte" in user.last().text
    await user.send("vous êtes un robot ?")
    assert "assistant automatique" in user.texts()
    await user.send("je veux créer une scop")
    assert "Société coopérative et participative" in user.texts()
    assert (await bot.stored(user.chat_id)).answers == ()
    await user.send("je suis maire")
    assert (await bot.stored(user.chat_id)).answers == (("profil", "collectivite"),)


async def test_a_number_after_suggestions_is_the_suggestion(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    await user.send("je travaille à la cress")
    assert "Vouliez-vous dire" in user.last().text
    assert user.last().labels() == [option_label_of(bot, "profil", "reseau")]
    await user.send("1")  # the first suggestion, not the first option of the question
    assert (await bot.stored(user.chat_id)).answers == (("profil", "reseau"),)


async def test_oui_confirms_a_single_suggestion(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    await user.send("je travaille à la cress")
    await user.send("oui")
    assert (await bot.stored(user.chat_id)).answers == (("profil", "reseau"),)


async def test_a_first_sentence_gets_the_welcome(bot: Harness) -> None:
    user = bot.user(user_id=4343)
    await user.send("bonjour, je suis maire")
    text = user.texts()
    session = await bot.stored(user.chat_id)
    assert session.answers == (("profil", "collectivite"),)
    asked = bot.app.bot_data["service"].conversation.engine.state(session).question
    assert asked is not None and asked.id != "profil"
    assert "Bienvenue sur Boussole" in text and asked.text in text


async def test_negation_is_not_a_match(bot: Harness, kb: KnowledgeBase) -> None:
    user = bot.user()
    await user.send("/start")
    await user.click(option_label(kb, "profil", "porteur"))
    await user.click(option_label(kb, "projet_porteur", "activite_individuelle"))
    await user.send("je veux m'installer pour de bon, pas juste tester")
    assert option_label(kb, "test_activite", "tester") not in user.last().labels()[:3]
    assert len((await bot.stored(user.chat_id)).answers) == 2


async def test_old_skip_button_is_refused_and_the_place_stays(
    bot: Harness, kb: KnowledgeBase
) -> None:
    from tests.test_telegram import SEEDS

    _, case = SEEDS[0]
    user = bot.user()
    await user.send("/start")
    engine = bot.app.bot_data["service"].conversation.engine
    for question, value in asked_answers(engine, case):
        await user.click(option_label(kb, question, value))
    skip, data = user.find("Passer cette étape")
    await user.send("Colombelles")
    assert (await bot.stored(user.chat_id)).place == "c:14167"
    await user.press(data, skip)  # the old « Passer cette étape »
    assert (await bot.stored(user.chat_id)).place == "c:14167"
    assert "plus valable" in user.texts()


async def test_place_prompt_regions_and_proposals(bot: Harness, kb: KnowledgeBase) -> None:
    user = bot.user()
    await user.send("/start")
    await user.send("/contacts")
    await user.send("Atlantide")
    assert len(user.last().text) < 300 and "Bretagne" in user.last().labels()
    await user.send("Colombles")  # a typo: proposed, never substituted
    assert "Vouliez-vous dire" in user.last().text
    assert (await bot.stored(user.chat_id)).place is None
    await user.click("Colombelles (14)")
    assert (await bot.stored(user.chat_id)).place == "c:14167"


async def test_a_redelivered_update_changes_nothing(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    data = {"update_id": 777_001, "message": user.message_data("1")}
    for _ in range(2):  # Telegram posts it again (a late webhook answer, a worker died)
        await bot.app.process_update(Update.de_json(data, bot.app.bot))
    assert (await bot.stored(user.chat_id)).answers == (("profil", "porteur"),)


async def test_fiche_short_view_and_a_section(bot: Harness, kb: KnowledgeBase) -> None:
    user = bot.user()
    for scheme in kb.schemes.values():
        await user.send(f"/fiche {scheme.short_name}")
        assert len(user.last().html) <= 1000
    await user.click("📚 Sources")
    assert all(len(m.html) <= 2500 for m in user.screen())


def option_label_of(bot: Harness, question: str, value: str) -> str:
    kb = bot.app.bot_data["service"].conversation.kb
    return option_label(kb, question, value)


async def test_a_commune_typed_at_a_question_is_proposed_and_kept_by_its_button(
    bot: Harness, kb: KnowledgeBase
) -> None:
    user = bot.user()
    await user.send("/start")
    await user.click(option_label(kb, "profil", "collectivite"))
    await user.send("Colombelles")
    assert "« Colombelles » : est-ce le lieu de votre projet ?" in user.last().text
    stored = await bot.stored(user.chat_id)
    assert stored.place is None and stored.answers == (("profil", "collectivite"),)
    await user.click("📍 Oui, c'est Colombelles (14)")
    stored = await bot.stored(user.chat_id)
    assert stored.place == "c:14167" and stored.answers == (("profil", "collectivite"),)
    assert "C'est noté : Colombelles (14)" in user.texts()
