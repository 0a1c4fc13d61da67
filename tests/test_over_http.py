"""The bot process (`python -m bot run`) over HTTP, against a Bot API emulator on 127.0.0.1.

The emulator is the npm package telegram-test-api, shimmed for python-telegram-bot 22 in
tests/emulator/server.js. A person clicks through an orientation as in the Telegram app;
the process is killed (SIGKILL) in the middle and started again, and the next click
continues. Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.channels.telegram import POLLING_READY, WEBHOOK_READY
from bot.orientation.cases import asked_answers
from bot.orientation.engine import Engine
from knowledge.loader import KnowledgeBase, load_cases
from tests.conftest import require_or_skip
from tests.emulator_harness import (
    BotMessage,
    EmulatedUser,
    Emulator,
    EmulatorError,
    ensure_emulator_installed,
)

TOKEN = "987654:HTTP-test-token-must-never-be-logged"
ROOT = Path(__file__).resolve().parent.parent
READY = POLLING_READY  # logged once updates flow (the libraries' own lines are quiet)

pytestmark = pytest.mark.slow  # processes over HTTP: `pytest -m "not slow"` leaves them out


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    try:
        ensure_emulator_installed()
    except EmulatorError as exc:
        require_or_skip(f"Bot API emulator unavailable: {exc}")
    with Emulator() as running:
        yield running


class BotProcess:
    """`python -m bot run` in a subprocess, with its log kept for the assertions."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BotProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=self.log_path.parent,  # no .env of the developer's is read
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        ready = WEBHOOK_READY if self.env.get("BOT_MODE") == "webhook" else READY
        started = self.log().count(ready) + 1
        deadline = time.monotonic() + 30
        while self.log().count(ready) < started:  # polling, or listening with the webhook set
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the bot did not start:\n{self.log()}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def bot_env(emulator: Emulator, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=emulator.url,
        DATABASE_URL=database_url,
        POLL_INTERVAL="0.05",
        RATE_LIMIT="false",  # the emulator has no flood limits
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def click(user: EmulatedUser, label: str) -> list[BotMessage]:
    """Click the newest button labelled so, and wait until the chat shows the answer."""
    before = user.chat_state()
    message_id, data = user.button(label)
    user.click(message_id, data)
    return user.wait_for(lambda state: state != before)


def option_label(kb: KnowledgeBase, question: str, value: str) -> str:
    option = next(q for q in kb.tree.questions if q.id == question).option(value)
    assert option is not None
    return option.label


def test_a_full_orientation_then_a_kill_and_restart(
    emulator: Emulator, kb: KnowledgeBase, database_url: str, tmp_path: Path
) -> None:
    _, case = next((n, c) for n, c in load_cases() if "Colombelles" in n)
    answers = list(asked_answers(Engine(kb), case))
    bot = BotProcess(bot_env(emulator, database_url), tmp_path / "bot.log").start()
    user = EmulatedUser(emulator, TOKEN, user_id=5001 + offset(database_url))
    try:
        names = [c["command"] for c in emulator.commands(TOKEN)]
        assert {"start", "fiche", "schemas", "confidentialite"} <= set(names)

        user.send_command("/start")
        state = user.wait_for(lambda s: any("Question 1" in m.text for m in s))
        assert "Bienvenue sur Boussole" in state[0].text
        for question, value in answers[:3]:
            click(user, option_label(kb, question, value))
        assert "Question 4" in user.last_message().text

        bot.kill()  # kill -9 in the middle of the orientation: nothing was only in memory
        bot.start()
        for question, value in answers[3:]:
            click(user, option_label(kb, question, value))
        state = user.wait_for(lambda s: "Où se situe votre projet" in s[-1].text)
        result = next(m for m in reversed(state) if any("📄" in b[0] for r in m.buttons for b in r))
        # a long result comes in several messages that fit a phone, the buttons on the last
        shown = " ".join(m.text for m in state[state.index(result) - 2 : state.index(result) + 1])
        assert "zéro chômeur" in shown
        assert any(
            "TZCLD" in label or "zéro" in label for row in result.buttons for label, _ in row
        )

        user.send_text("Colombelles")
        # the routing may come in several messages that fit a phone, the buttons on the last
        state = user.wait_for(
            lambda s: (
                any("Colombelles (14)" in m.text for m in s[-3:])
                and any(data.startswith("https://") for row in s[-1].buttons for _, data in row)
            )
        )
        assert "Qui peut vous accompagner" in " ".join(m.text for m in state[-3:])
        answers_seen = [a.text for a in user.callback_answers()]
        assert all(text is None or len(text) <= 200 for text in answers_seen)
    finally:
        bot.stop()
    assert TOKEN not in bot.log() and TOKEN.split(":")[1] not in bot.log()


def test_stale_button_and_sticker_over_http(
    emulator: Emulator, database_url: str, tmp_path: Path
) -> None:
    bot = BotProcess(bot_env(emulator, database_url), tmp_path / "bot.log").start()
    user = EmulatedUser(emulator, TOKEN, user_id=7001 + offset(database_url))
    try:
        user.send_command("/start")
        user.wait_for(lambda s: any("Question 1" in m.text for m in s))
        first_id, _ = user.button("orteur")
        click(user, "orteur")
        user.click(first_id, "a|0|profil|collectivite")  # an old button, from step 0
        # the notice, then the question where the person is (two messages: wait for both)
        state = user.wait_for(
            lambda s: "plus valable" in " ".join(m.text for m in s) and "Question 2" in s[-1].text
        )
        assert "Question 1" not in state[-1].text
        user.send_sticker()
        user.wait_for(lambda s: "Je ne lis que le texte" in " ".join(m.text for m in s))
    finally:
        bot.stop()


def test_webhook_mode_checks_the_secret(
    emulator: Emulator, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = bot_env(
        emulator,
        database_url,
        BOT_MODE="webhook",
        WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
        WEBHOOK_SECRET="s3cret-for-tests",
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    bot = BotProcess(env, tmp_path / "bot.log").start()
    user = EmulatedUser(emulator, TOKEN, user_id=9001 + offset(database_url))
    try:
        user.send_command("/start")  # the emulator posts it to the webhook, with the secret
        user.wait_for(lambda s: any("Question 1" in m.text for m in s))
        forged = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "/start",
                "chat": {"id": 1, "type": "private"},
            },
        }
        response = httpx.post(f"http://127.0.0.1:{port}/telegram", json=forged, timeout=5)
        assert response.status_code == 403  # no secret header: refused
        wrong = httpx.post(
            f"http://127.0.0.1:{port}/telegram",
            json=forged,
            headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            timeout=5,
        )
        assert wrong.status_code == 403
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz", timeout=5).text == "ok"
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["database"] == "ok"
        assert ready.json()["knowledge"].startswith("version ")
        chat = httpx.get(f"{base}/chat", timeout=5)  # the web chat, on the same server
        assert chat.status_code == 200 and "Bienvenue sur Boussole" in chat.text
        exposed = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'boussole_updates_total{type="message"}' in exposed
        assert "boussole_update_seconds_bucket" in exposed
    finally:
        bot.stop()
    lines = [line for line in bot.log().splitlines() if "boussole.updates" in line]
    assert lines and "update message chat=" in lines[0] and " ms ok" in lines[0]
    assert str(9001 + offset(database_url)) not in "\n".join(lines)  # chats are hashed


def stored_answers(database_url: str, chat_key: str) -> tuple[tuple[str, str], ...]:
    import asyncio

    from bot.platform.storage import ConversationStore

    async def load() -> tuple[tuple[str, str], ...]:
        store = ConversationStore(database_url)
        session, _ = await store.load(chat_key)
        await store.close()
        return session.answers

    return asyncio.run(load())


def offset(database_url: str) -> int:
    """Distinct chats for the SQLite and PostgreSQL runs of a test (one emulator serves both)."""
    return 500 if "postgresql" in database_url else 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_lead_survives_a_kill_and_a_receiver_down_during_the_restart(
    emulator: Emulator, kb: KnowledgeBase, database_url: str, tmp_path: Path
) -> None:
    """The lead is committed, the process is killed before delivering it; the next process
    starts while the partner's webhook is down; when it comes back, exactly one delivery."""
    import asyncio

    from tests.receivers import WebhookReceiver

    secret = "whsec_dGVzdHMtc2VjcmV0LWtleS1vZi0zMi1ieXRlcyEh"
    async with WebhookReceiver(secret) as webhook:
        partners = tmp_path / "partners.yaml"
        partners.write_text(
            "organisations:\n"
            "  - id: urscop_hdf\n"
            "    name: URSCOP Hauts-de-France\n"
            "    contact: urscop_hdf\n"
            f"    webhook_url: {webhook.url}\n"
            f"    webhook_secret: {secret}\n",
            encoding="utf-8",
        )
        env = bot_env(emulator, database_url, PARTNERS_FILE=str(partners))
        first = BotProcess({**env, "OUTBOX_WORKER": "false"}, tmp_path / "first.log").start()
        user = EmulatedUser(emulator, TOKEN, user_id=6001 + offset(database_url))
        _, case = next((n, c) for n, c in load_cases() if "Voisinerie" in n)

        def orientation_and_request() -> None:
            user.send_command("/start")
            user.wait_for(lambda s: any("Question 1" in m.text for m in s))
            for question, value in asked_answers(Engine(kb), case):
                click(user, option_label(kb, question, value))
            user.send_text("59000")
            user.wait_for(lambda s: "Lille (59)" in s[-1].text)
            click(user, "mis en relation : URSCOP")
            click(user, "J'accepte")
            for text in ("Camille Martin", "camille@exemple.fr", "Un café-cantine de quartier."):
                before = user.chat_state()
                user.send_text(text)
                user.wait_for(lambda state, before=before: state != before)
            click(user, "Envoyer")
            user.wait_for(lambda s: "C'est envoyé" in s[-1].text)

        try:
            await asyncio.to_thread(orientation_and_request)
        finally:
            first.kill()  # committed, never delivered: this process had no delivery worker
        assert webhook.requests == []

        await webhook.stop()  # the partner is down while the bot restarts
        second = BotProcess(
            {**env, "OUTBOX_FIRST_RETRY": "0.2", "OUTBOX_INTERVAL": "0.2"},
            tmp_path / "second.log",
        ).start()
        try:
            await asyncio.sleep(1.0)  # a few attempts fail meanwhile
            await webhook.start()  # the partner is back, on the same address
            for _ in range(150):
                if webhook.unique:
                    break
                await asyncio.sleep(0.1)
            await asyncio.to_thread(
                user.wait_for, lambda s: "Votre demande a été remise" in s[-1].text, 15
            )
            await asyncio.sleep(0.5)  # nothing else arrives afterwards
        finally:
            second.stop()
        created = [d for d in webhook.received if d.event == "lead.created"]
        assert len(created) == 1, second.log()
        assert "will be retried: connection failed" in second.log()  # it was really down
        assert created[0].payload["lead"]["person"]["name"] == "Camille Martin"


def test_two_workers_behind_a_balancer_share_every_conversation(
    emulator: Emulator, kb: KnowledgeBase, database_url: str, tmp_path: Path
) -> None:
    """Two webhook workers, one database, a round-robin balancer in front: a conversation
    hops between workers, a double click lands on both, one worker is killed mid-way."""
    import threading

    balancer_port, ports = free_port(), [free_port(), free_port()]
    balancer = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "balancer.py"), str(balancer_port), *map(str, ports)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    workers = [
        BotProcess(
            bot_env(
                emulator,
                database_url,
                BOT_MODE="webhook",
                WEBHOOK_URL=f"http://127.0.0.1:{balancer_port}/telegram",
                WEBHOOK_SECRET="two-workers-secret",
                WEBHOOK_PORT=str(port),
            ),
            tmp_path / f"worker{i}.log",
        )
        for i, port in enumerate(ports)
    ]
    try:
        assert balancer.stdout is not None and balancer.stdout.readline().startswith(b"READY")
        for worker in workers:
            worker.start()
        _, case = next((n, c) for n, c in load_cases() if "Colombelles" in n)
        answers = list(asked_answers(Engine(kb), case))
        user = EmulatedUser(emulator, TOKEN, user_id=8001 + offset(database_url))
        user.send_command("/start")
        user.wait_for(lambda s: any("Question 1" in m.text for m in s))

        # a double click: the same button twice at once, through the balancer to both workers
        message_id, data = user.button(option_label(kb, *answers[0]))
        clicks = [threading.Thread(target=user.click, args=(message_id, data)) for _ in range(2)]
        for thread in clicks:
            thread.start()
        for thread in clicks:
            thread.join()
        user.wait_for(lambda s: "Question 2" in s[-1].text)
        for question, value in answers[1:4]:
            click(user, option_label(kb, question, value))
        served = httpx.get(f"http://127.0.0.1:{balancer_port}/_balancer", timeout=5).json()
        assert set(served["served"]) == set(ports)  # the conversation hopped between workers

        workers[0].kill()  # one worker dies mid-conversation
        for question, value in answers[4:]:
            click(user, option_label(kb, question, value))
        state = user.wait_for(lambda s: "Où se situe votre projet" in s[-1].text)
        assert any("Territoires zéro chômeur" in m.text or "zéro chômeur" in m.text for m in state)
        # the double click was answered once: no question was skipped or repeated
        assert "Question 2" not in state[-2].text
        answered = [a.text for a in user.callback_answers() if a.text]
        assert answered.count("Réponse déjà prise en compte.") <= 1
        assert stored_answers(database_url, f"tg:{user.chat_id}") == tuple(answers)
    finally:
        for worker in workers:
            worker.stop()
        balancer.terminate()
        balancer.wait(10)


async def test_a_network_hands_a_lead_off_follows_it_hands_it_on_and_erases_it(
    emulator: Emulator, kb: KnowledgeBase, database_url: str, tmp_path: Path
) -> None:
    """One full hand-off over HTTP: a CRESS operator qualifies a lead for a person they
    met and sends it to the URSCOP; the URSCOP's group declines it; the operator is told,
    hands it to Nord Actif with the same answers, then erases it; both partners told."""
    import asyncio

    from tests.receivers import WebhookReceiver

    secret = "whsec_dGVzdHMtc2VjcmV0LWtleS1vZi0zMi1ieXRlcyEh"
    operator_id, group_id = 6101 + offset(database_url), -4101 - offset(database_url)
    person = "Association Les Parents d'Abord"
    async with WebhookReceiver(secret) as webhook:
        partners = tmp_path / "partners.yaml"
        partners.write_text(
            "organisations:\n"
            "  - id: urscop_hdf\n"
            "    name: URSCOP Hauts-de-France\n"
            "    contact: urscop_hdf\n"
            f"    telegram_chat_id: {group_id}\n"
            f"    webhook_url: {webhook.url}\n"
            f"    webhook_secret: {secret}\n"
            "  - id: nord_actif\n"
            "    name: Nord Actif\n"
            "    contact: nord_actif\n"
            f"    webhook_url: {webhook.url}\n"
            f"    webhook_secret: {secret}\n"
            "  - id: cress_hdf\n"
            "    name: CRESS Hauts-de-France\n"
            "    contact: cress_hdf\n"
            "    email: accueil@cress.example\n"
            "operators:\n"
            f"  - telegram_user_id: {operator_id}\n"
            "    organisation: cress_hdf\n",
            encoding="utf-8",
        )
        env = bot_env(
            emulator,
            database_url,
            PARTNERS_FILE=str(partners),
            OUTBOX_INTERVAL="0.2",
            OUTBOX_FIRST_RETRY="0.2",
        )
        bot = BotProcess(env, tmp_path / "bot.log").start()
        operator = EmulatedUser(emulator, TOKEN, user_id=operator_id)
        group = EmulatedUser(emulator, TOKEN, user_id=6201, chat_id=group_id, chat_type="group")
        _, case = next((n, c) for n, c in load_cases() if "Voisinerie" in n)

        def said(user: EmulatedUser, words: str, timeout: float = 15) -> list[BotMessage]:
            return user.wait_for(lambda s: any(words in m.text for m in s), timeout)

        def type_in(user: EmulatedUser, text: str) -> None:
            before = user.chat_state()
            user.send_text(text)
            user.wait_for(lambda state: state != before)

        def hand_off() -> None:
            operator.send_command("/start")
            operator.wait_for(lambda s: any("Question 1" in m.text for m in s))
            for question, value in asked_answers(Engine(kb), case):
                click(operator, option_label(kb, question, value))
            operator.send_text("59000")
            operator.wait_for(lambda s: "Lille (59)" in s[-1].text)
            click(operator, "mis en relation : URSCOP")
            assert "adressez-vous à CRESS Hauts-de-France" in operator.last_message().text
            click(operator, "La personne accepte")
            assert "Nom de la personne ou de la structure" in operator.last_message().text
            type_in(operator, person)
            type_in(operator, "06 12 34 56 78")
            type_in(operator, "Une crèche parentale en coopérative, rencontrée au forum.")
            click(operator, "Envoyer")
            said(operator, f"La demande de {person} part vers URSCOP Hauts-de-France")
            said(operator, f"La demande de {person} a été remise à URSCOP Hauts-de-France")
            said(group, person)  # the lead in the partner's group, with its buttons
            click(group, "Pas pour nous")
            click(group, "Hors de notre territoire")
            said(operator, f"ne peut pas donner suite à la demande de {person}")
            click(operator, "Transmettre à un autre partenaire")
            click(operator, "↪️ Nord Actif")
            click(operator, "📨 Transmettre")
            said(operator, f"La demande de {person} a été remise à Nord Actif")
            operator.send_command("/leads")
            said(operator, "Demandes transmises par CRESS Hauts-de-France pour quelqu'un : 2")
            click(operator, "→ Nord Actif")
            click(operator, "Effacer cette demande")
            click(operator, "Oui, effacer la demande")
            said(operator, "est effacée de Boussole")

        try:
            await asyncio.to_thread(hand_off)
            for _ in range(100):  # the erasure notices go out with the next rounds
                if len([d for d in webhook.received if d.event == "lead.erased"]) >= 2:
                    break
                await asyncio.sleep(0.1)
        finally:
            bot.stop()
        created = {d.delivery_id: d for d in webhook.unique.values() if d.event == "lead.created"}
        assert len(created) == 2, bot.log()
        organisations = sorted(d.payload["lead"]["organisation"]["id"] for d in created.values())
        assert organisations == ["nord_actif", "urscop_hdf"]
        answers = [d.payload["lead"]["answers"] for d in created.values()]
        assert answers[0] == answers[1]  # the same answers, handed on
        erased = sorted(
            d.payload["lead"]["id"] for d in webhook.received if d.event == "lead.erased"
        )
        assert erased == sorted(created), bot.log()


def test_the_bot_starts_from_a_copy_of_env_example_with_only_the_token_set(
    emulator: Emulator, tmp_path: Path
) -> None:
    """README: « Copiez .env.example en .env », set the token, `python -m bot run`."""
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert "\nTELEGRAM_BOT_TOKEN=\n" in example
    filled = example.replace("\nTELEGRAM_BOT_TOKEN=\n", f"\nTELEGRAM_BOT_TOKEN={TOKEN}\n")
    (tmp_path / ".env").write_text(filled, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    for name in ("DATABASE_URL", "WEBHOOK_SECRET", "WEBHOOK_URL", "PARTNERS_FILE"):
        env.pop(name, None)
    # only where Telegram is: the emulator stands for api.telegram.org
    env.update(TELEGRAM_API_BASE_URL=emulator.url, PYTHONPATH=str(ROOT))
    bot = BotProcess(env, tmp_path / "bot.log").start()
    user = EmulatedUser(emulator, TOKEN, user_id=5090)
    try:
        user.send_command("/start")
        state = user.wait_for(lambda s: any("Question 1" in m.text for m in s))
        assert "Bienvenue sur Boussole" in state[0].text
        assert "effacé après 180 jours sans message" in state[0].text  # RETENTION_DAYS
        described = emulator.descriptions(TOKEN)
        assert "Boussole vous aide" in described["description"]
        assert described["short_description"]
        group = emulator.commands(TOKEN, {"type": "all_group_chats"})
        assert [c["command"] for c in group] == ["start"]
        private = emulator.commands(TOKEN, {"type": "all_private_chats"})
        assert "fiche" in [c["command"] for c in private]
    finally:
        bot.stop()
    assert (tmp_path / "boussole.db").exists()  # the example's default database
    assert TOKEN not in bot.log()


def test_a_redelivered_update_changes_nothing_over_http(
    emulator: Emulator, database_url: str, tmp_path: Path
) -> None:
    """Telegram posts an update again when the webhook answered late or a worker died:
    the same update (same update_id, same message_id, text « 1 ») is handled once."""
    port = free_port()
    secret = "s3cret-redelivery"
    env = bot_env(
        emulator,
        database_url,
        BOT_MODE="webhook",
        WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
        WEBHOOK_SECRET=secret,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    bot = BotProcess(env, tmp_path / "bot.log").start()
    user = EmulatedUser(emulator, TOKEN, user_id=9301 + offset(database_url))
    try:
        user.send_command("/start")
        user.wait_for(lambda s: any("Question 1" in m.text for m in s))
        chat = {"id": user.chat_id, "type": "private", "first_name": "Camille"}
        update = {
            "update_id": 880_001,
            "message": {
                "message_id": 880_001,
                "date": int(time.time()),
                "chat": chat,
                "from": {"id": user.chat_id, "is_bot": False, "first_name": "Camille"},
                "text": "1",
            },
        }
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        for _ in range(2):
            response = httpx.post(
                f"http://127.0.0.1:{port}/telegram", json=update, headers=headers, timeout=10
            )
            assert response.status_code == 200
        user.wait_for(lambda s: any("Question 2" in m.text for m in s))
        time.sleep(0.5)  # the second delivery is handled before its answer: nothing more
        answers = stored_answers(database_url, f"tg:{user.chat_id}")
        assert answers == (("profil", "porteur"),)
    finally:
        bot.stop()
