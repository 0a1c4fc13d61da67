"""The real python-telegram-bot Application, offline: what a person sees in Telegram.

Every test runs on SQLite and on PostgreSQL. The offline Bot API refuses what Telegram
would refuse (64-byte callback data, 4096 characters, invalid HTML), and each test ends
by checking that nothing was refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from telegram.ext import Application

from bot.channels.telegram import build_application
from bot.orientation.cases import asked_answers
from bot.orientation.engine import Engine, Session
from bot.platform.config import Settings
from bot.platform.storage import ConversationStore
from knowledge.loader import KnowledgeBase, load_cases
from tests.telegram_offline import OfflineRequest, TelegramUser

TOKEN = "123456:TEST-token-never-logged"


@dataclass
class Harness:
    app: Application[Any, Any, Any, Any, Any, Any]
    request: OfflineRequest
    settings: Settings

    def user(self, user_id: int = 4242, **kwargs: Any) -> TelegramUser:
        return TelegramUser(self.app, self.request, user_id, **kwargs)

    async def stored(self, chat_id: int) -> Session:
        store = ConversationStore(self.settings.database_url)
        try:
            session, _ = await store.load(f"tg:{chat_id}")
        finally:
            await store.close()
        return session


async def start_app(settings: Settings, kb: KnowledgeBase, **build: Any) -> Harness:
    request = OfflineRequest()
    app = build_application(settings, kb, request=request, **build)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    return Harness(app, request, settings)


async def stop_app(harness: Harness) -> None:
    assert harness.app.post_shutdown is not None
    await harness.app.post_shutdown(harness.app)
    await harness.app.shutdown()


@pytest.fixture
async def bot(kb: KnowledgeBase, database_url: str) -> AsyncIterator[Harness]:
    settings = Settings(_env_file=None, telegram_bot_token=TOKEN, database_url=database_url)
    harness = await start_app(settings, kb)
    yield harness
    await stop_app(harness)
    assert harness.request.violations == [], "Telegram would have refused these calls"


def option_label(kb: KnowledgeBase, question: str, value: str) -> str:
    q = next(q for q in kb.tree.questions if q.id == question)
    option = q.option(value)
    assert option is not None
    return option.label


# ---------------------------------------------------------------- start


async def test_start_greets_says_what_it_does_not_do_and_asks_who_is_speaking(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    text = user.texts()
    assert "Bienvenue sur Boussole" in text
    assert "pas de conseil juridique" in text
    # what is kept, exactly: the answers and the place, under this chat, for RETENTION_DAYS
    assert "Ce que je garde : vos réponses et le lieu du projet" in text
    assert f"effacé après {bot.settings.retention_days} jours sans message" in text
    assert "aucune donnée personnelle" not in text
    labels = user.last().labels()
    for who in ("porteur", "collectivité", "réseau", "entreprise"):
        assert any(who in label.lower() for label in labels), (who, labels)
    assert "❓ Aide" in labels
    # the command menu is registered with Telegram
    names = [c["command"] for c in bot.request.commands]
    for command in ("start", "fiche", "schemas", "aide", "recommencer", "confidentialite"):
        assert command in names


async def test_the_empty_chat_shows_a_description_and_each_chat_its_menu(bot: Harness) -> None:
    """Before /start, Telegram shows the description; menus differ by kind of chat."""
    described = bot.request.descriptions
    assert "Boussole vous aide à trouver le bon cadre" in described["description"]
    assert "&#39;" not in described["description"] and "<" not in described["description"]
    assert 0 < len(described["short_description"]) <= 120
    private = [c["command"] for c in bot.request.menus["all_private_chats"]]
    assert private == [c["command"] for c in bot.request.menus["default"]]
    assert "leads" not in private and "stats" not in private  # no operator here
    assert [c["command"] for c in bot.request.menus["all_group_chats"]] == ["start"]
    assert not [key for key in bot.request.menus if key.startswith("chat:")]


async def test_deep_link_opens_the_collectivite_branch(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start collectivite")
    assert "Quel enjeu voulez-vous traiter en priorité ?" in user.last().text
    assert (await bot.stored(user.chat_id)).answers == (("profil", "collectivite"),)


async def test_deep_link_opens_a_fiche(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start fiche-scic")
    assert any("Société coopérative d'intérêt collectif" in m.text for m in user.screen())
    assert (await bot.stored(user.chat_id)).answers == ()


# ---------------------------------------------------------------- full orientations

SEEDS = [(name, case) for name, case in load_cases() if name.startswith("seeds.yaml")]


@pytest.mark.parametrize(
    "profile", ["porteur", "collectivite", "entreprise", "reseau", "association"]
)
async def test_a_full_orientation_by_buttons_for_each_profile(
    bot: Harness, kb: KnowledgeBase, profile: str
) -> None:
    name, case = next(
        (n, c)
        for n, c in load_cases()
        if c.answers.get("profil") == profile and (c.expect_first or c.expect_in_top)
    )
    user = bot.user()
    await user.send("/start")
    for question, value in asked_answers(Engine(kb), case):
        await user.click(option_label(kb, question, value))
    screen = user.screen()
    result = next(m for m in reversed(screen) if "📄" in " ".join(m.labels()))
    # a long result comes in messages under 2,500 characters, the buttons on the last one
    start = max(i for i, m in enumerate(screen) if "Voici ce que je vous recommande" in m.text)
    shown = " ".join(m.text for m in screen[start : screen.index(result) + 1])
    assert all(len(m.html) <= 2500 for m in screen[start:])
    expected = case.expect_first or (case.expect_in_top or case.expect_recommended)[0]
    scheme = kb.schemes[expected]
    assert scheme.name in shown or scheme.short_name in shown, name
    assert "Pourquoi" in shown or "pourquoi" in shown
    # each recommended scheme has a button to its fiche, under 64 bytes (checked offline)
    assert any(scheme.short_name in label for label in result.labels())
    # the place comes next, for contacts and funders
    assert "Où se situe votre projet ?" in user.last().text
    assert (await bot.stored(user.chat_id)).answers == asked_answers(Engine(kb), case)
    # answering edits the question in place: one message per question was not sent
    assert bot.request.count("editMessageText") >= len(asked_answers(Engine(kb), case)) - 1


async def test_progress_help_back_and_restart(bot: Harness, kb: KnowledgeBase) -> None:
    user = bot.user()
    await user.send("/start")
    await user.click("porteur")
    question = user.last()
    assert "▰" in question.text and "Question 2" in question.text
    shown = len(user.screen())
    await user.click("❓ Aide")  # explained in place: no second live copy of the question
    assert "💡" in user.last().text and len(user.screen()) == shown
    await user.click("← Retour")
    assert (await bot.stored(user.chat_id)).answers == ()
    await user.click("porteur")
    await user.click("🔄 Recommencer")
    assert "C'est reparti de zéro" in user.texts()
    assert (await bot.stored(user.chat_id)).answers == ()


async def test_changing_an_earlier_answer_recomputes_what_follows(
    bot: Harness, kb: KnowledgeBase
) -> None:
    user = bot.user()
    await user.send("/start")
    await user.click(option_label(kb, "profil", "entreprise"))
    first = user.last().text
    await user.click("← Retour")
    await user.click(option_label(kb, "profil", "collectivite"))
    assert user.last().text != first
    assert (await bot.stored(user.chat_id)).answers == (("profil", "collectivite"),)


async def test_typed_answers_are_matched_fuzzily(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    await user.send("une colectivite")
    assert (await bot.stored(user.chat_id)).answers == (("profil", "collectivite"),)
    await user.send("1")  # the first option, by number
    assert len((await bot.stored(user.chat_id)).answers) == 2


# ---------------------------------------------------------------- commands


async def test_fiche_command_is_fuzzy(bot: Harness, kb: KnowledgeBase) -> None:
    user = bot.user()
    await user.send("/fiche zero chomeur")
    assert kb.schemes["tzcld"].name in user.texts()
    await user.send("/fiche@BoussoleTestBot scic")
    assert "intérêt collectif" in user.last().text or "intérêt collectif" in user.texts()


async def test_long_fiches_are_split_under_telegram_limit(bot: Harness, kb: KnowledgeBase) -> None:
    user = bot.user()
    for scheme in kb.schemes.values():
        await user.send(f"/fiche {scheme.short_name}")
    longest = max(len(m.html) for m in user.screen())
    assert longest <= 4096
    # at least one fiche is longer than a message: it came in several parts, none refused
    assert sum(len(m.html) for m in user.screen()) > 4096 * 2


async def test_schemas_aide_and_privacy_commands(bot: Harness) -> None:
    user = bot.user()
    await user.send("/schemas")
    assert "SCIC" in " ".join(user.last().labels())
    await user.send("/start")
    shown = len(user.screen())
    await user.send("/aide")  # brief, with the question explained, not posted again
    assert "Comment utiliser Boussole" in user.last().text and "💡" in user.last().text
    assert len(user.screen()) == shown + 1
    await user.send("/confidentialite")
    text = user.last().text
    assert "Ce qui est gardé" in text and "180 jours" in text and "/oublier" in text


async def test_forget_erases_the_conversation_after_confirmation(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    await user.click("porteur")
    await user.send("/oublier")
    await user.click("Non, garder")
    assert (await bot.stored(user.chat_id)).step == 1
    await user.send("/oublier")
    await user.click("Oui, tout effacer")
    assert "ne garde plus rien" in user.last().text
    assert (await bot.stored(user.chat_id)).step == 0


async def test_contacts_and_funders_after_the_result(bot: Harness, kb: KnowledgeBase) -> None:
    """Issue 6 in Telegram: the place is asked, contacts come with website buttons."""
    _, case = next((n, c) for n, c in SEEDS if "Colombelles" in n)
    user = bot.user()
    await user.send("/start")
    for question, value in asked_answers(Engine(kb), case):
        await user.click(option_label(kb, question, value))
    await user.send("colombelle")  # a typo: proposed, never substituted
    assert "Vouliez-vous dire" in user.last().text
    assert (await bot.stored(user.chat_id)).place is None
    await user.click("Colombelles (14)")
    routing = user.last()
    assert "Calvados" in routing.text or "Normandie" in routing.text
    urls = [b["url"] for row in routing.buttons for b in row if "url" in b]
    assert urls and all(u.startswith("https://") for u in urls)
    await user.send("/financements")
    assert "Financements possibles" in user.last().text
    # a réemploi fund does not fit a zero-long-term-unemployment project (issue 19)
    assert "éco-organismes" not in user.last().text
    # an ambiguous place is asked with buttons instead of guessed
    await user.click("📍 Changer de lieu")
    await user.send("Saint-Denis")
    labels = user.last().labels()
    assert any("93" in label for label in labels) and any("974" in label for label in labels)
    await user.click("974")
    assert "La Réunion" in user.last().text or "Réunion" in user.texts()


async def test_a_result_is_shared_as_a_deep_link_that_reopens_it_read_only(
    bot: Harness, kb: KnowledgeBase
) -> None:
    """Issue 16 in Telegram: « Partager ce résultat » gives a t.me link (and the web one
    when the web chat has a public address); another person opens the same result."""
    import re

    from tests.telegram_offline import BOT_USERNAME

    _, case = next((n, c) for n, c in SEEDS if "Colombelles" in n)
    user = bot.user()
    await user.send("/start")
    for question, value in asked_answers(Engine(kb), case):
        await user.click(option_label(kb, question, value))
    await user.send("Colombelles")
    await user.click("Partager ce résultat")
    deep_link = rf"https://t\.me/{BOT_USERNAME}\?start=(r_[A-Za-z0-9_-]{{22}})"
    link = re.search(deep_link, user.last().text)
    assert link is not None, user.last().text
    colleague = bot.user(5151)
    await colleague.send(f"/start {link.group(1)}")
    texts = colleague.texts()
    assert "Un résultat partagé avec vous" in texts and "Colombelles" in texts
    assert (await bot.stored(colleague.chat_id)).answers == ()  # nothing of theirs changed
    await colleague.click("Faire ma propre orientation")
    assert "qui êtes-vous" in colleague.last().text
    await colleague.send("/start r_" + "x" * 22)
    assert "n'existe pas" in colleague.last().text


# ---------------------------------------------------------------- bad input


async def test_forged_stale_and_unknown_buttons_change_nothing(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    await user.click("porteur")
    before = await bot.stored(user.chat_id)
    first_question = user.screen()[-1]
    for data in [
        "zzz",
        "a|0|profil|collectivite",
        "a|1|profil|hacker",
        "f|||nope",
        "p|||c:00000",
        "a|x|y|z",
        "",
        "a|99999|profil|porteur",
    ]:
        await user.press(data or "c|||", first_question)
    assert await bot.stored(user.chat_id) == before
    toasts = [t for t in bot.request.toasts if t]
    assert any("plus valable" in t for t in toasts)
    assert "voici où vous en êtes" in user.texts()


async def test_double_click_records_the_answer_once(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    message, data = user.find("porteur")
    update = user.callback_update(message, data)
    await user.feed(update)
    await user.feed(user.callback_update(message, data))
    assert (await bot.stored(user.chat_id)).step == 1
    assert "Réponse déjà prise en compte." in bot.request.toasts


async def test_simultaneous_double_click_on_two_workers(bot: Harness, kb: KnowledgeBase) -> None:
    """Two updates of one chat handled at once (as by two webhook workers)."""
    user = bot.user()
    await user.send("/start")
    message, data = user.find("porteur")
    await asyncio.gather(
        user.feed(user.callback_update(message, data)),
        user.feed(user.callback_update(message, data)),
    )
    assert (await bot.stored(user.chat_id)).answers == (("profil", "porteur"),)


async def test_non_text_messages_get_a_polite_answer(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    sticker = {
        "file_id": "s1",
        "file_unique_id": "u1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    photo = [{"file_id": "p1", "file_unique_id": "pu1", "width": 90, "height": 90}]
    await user.send_other(sticker=sticker)
    await user.send_other(photo=photo, caption="mon projet")
    await user.send_other(voice={"file_id": "v", "file_unique_id": "vu", "duration": 3})
    await user.send_other(location={"latitude": 49.2, "longitude": -0.3})
    assert user.texts().count("Je ne lis que le texte et les boutons") == 4
    assert (await bot.stored(user.chat_id)).step == 0


async def test_huge_html_and_edited_messages(bot: Harness) -> None:
    user = bot.user()
    await user.send("/start")
    await user.send("<b>x</b> & <script>" * 400)  # 4,400 characters of markup
    assert "&lt;b&gt;" in user.last().html or "&lt;b&gt;" in user.screen()[-2].html
    await user.edit("collectivité")
    assert "messages modifiés" in user.last().text
    assert (await bot.stored(user.chat_id)).step == 0


async def test_in_a_group_only_commands_get_an_invitation(bot: Harness) -> None:
    group = bot.user(chat_id=-100123, chat_type="supergroup")
    await group.send("bonjour tout le monde")
    assert group.screen() == []
    await group.send("/start")
    invite = group.last()
    assert "conversation privée" in invite.text
    assert invite.buttons[0][0]["url"] == "https://t.me/BoussoleTestBot"
    assert (await bot.stored(-100123)).step == 0


async def test_a_failure_is_told_and_the_place_is_kept(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = bot.user()
    await user.send("/start")
    await user.click("porteur")
    conversation = bot.app.bot_data["service"].conversation

    def broken(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(conversation, "handle_text", broken)
    await user.send("n'importe quoi")
    assert "Quelque chose s'est mal passé" in user.texts()
    assert "Question 2" in user.last().text
    assert (await bot.stored(user.chat_id)).answers == (("profil", "porteur"),)


async def test_a_restart_continues_every_conversation(kb: KnowledgeBase, database_url: str) -> None:
    settings = Settings(_env_file=None, telegram_bot_token=TOKEN, database_url=database_url)
    first = await start_app(settings, kb)
    user = first.user()
    await user.send("/start")
    await user.click("porteur")
    message, data = user.find(user.last().labels()[0])
    await stop_app(first)

    second = await start_app(settings, kb)  # a new process: nothing in memory
    second.request.messages = first.request.messages  # the chat still shows the same buttons
    again = second.user()
    await again.feed(again.callback_update(message, data))
    assert (await second.stored(user.chat_id)).step == 2
    await stop_app(second)


async def test_a_button_pressed_in_a_group_is_answered_and_stores_nothing(bot: Harness) -> None:
    group = bot.user(chat_id=-100777, chat_type="supergroup")
    await group.send("/start")
    await group.press("r|||", group.last())
    assert bot.request.toasts[-1] == "Boussole répond en conversation privée."
    assert (await bot.stored(-100777)).step == 0


async def test_one_log_line_per_update_with_its_outcome(
    bot: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from telegram import Update

    user = bot.user(user_id=5151)
    app = bot.app

    ids = iter(range(1, 100))

    async def through_the_processor(text: str) -> None:
        data = {"update_id": next(ids), "message": user.message_data(text)}  # each a new update
        update = Update.de_json(data, app.bot)
        await app.update_processor.process_update(update, app.process_update(update))

    caplog.set_level("INFO", logger="boussole.updates")
    await through_the_processor("/start")
    conversation = bot.app.bot_data["service"].conversation

    def broken(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(conversation, "handle_text", broken)
    await through_the_processor("bonjour")
    lines = [r.getMessage() for r in caplog.records if r.name == "boussole.updates"]
    assert len(lines) == 2
    assert lines[0].startswith("update message chat=") and lines[0].endswith(" ok")
    assert lines[1].endswith(" error")
    assert "5151" not in " ".join(lines)
