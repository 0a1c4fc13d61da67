"""The delivery worker: performs the due jobs of the outbox, retries what failed.

Every process runs one. A job is claimed by one worker at a time (a lease in the
database), performed, then marked done; a temporary failure (partner endpoint down,
timeout, 5xx) is retried with exponential backoff for about a day, a permanent one
(refused address, 4xx) is marked failed and visible to operators. A crash between the
send and the mark only causes a second send with the same lead id, which the receiver
deduplicates (webhook `X-Boussole-Delivery`, email `Message-ID`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

import httpx

from bot.leads.delivery import DeliveryError, SmtpSettings, post_webhook, send_email
from bot.leads.erasure import erasure_unblocked
from bot.leads.moves import ChatMoves
from bot.leads.partner_dialogue import PartnerDialogue
from bot.leads.partners import Organisation
from bot.leads.sent import SentLeads
from bot.leads.store import Job, JobKind, Lead, LeadStatus, LeadStore, now
from bot.platform.observe import DELIVERIES, LEADS
from bot.screens.views import Reply, telegram_chat

log = logging.getLogger(__name__)

#: waits between attempts: 30 s, 1, 2, 5, 10, 30 min, then hourly (about a day in all)
BACKOFF = [30, 60, 120, 300, 600, 1800] + [3600] * 20
REMINDERS = 2  # a partner who does not answer is reminded at most this many times


#: one attempt never outlives its job's lease (`LEASE`, 2 minutes): it is cut after this
ATTEMPT_LIMIT = 60.0


class ChatMoved(Exception):
    """The Bot API says this group became a supergroup, with a new id."""

    def __init__(self, new_chat_id: int) -> None:
        super().__init__(new_chat_id)
        self.new_chat_id = new_chat_id


class Messenger(Protocol):
    """Sends a reply to a Telegram chat (implemented by bot/channels/telegram.py)."""

    async def send(self, chat_id: int, reply: Reply) -> list[int]:
        """The ids of the messages sent; raises `ChatMoved` or `DeliveryError`."""
        ...

    async def edit(self, chat_id: int, message_id: int, reply: Reply) -> None: ...


def backoff(attempts: int, first: float = BACKOFF[0]) -> timedelta:
    """The wait after the `attempts`-th failure, the schedule scaled to start at `first`."""
    return timedelta(seconds=BACKOFF[min(attempts, len(BACKOFF)) - 1] * first / BACKOFF[0])


class Outbox:
    def __init__(
        self,
        leads: LeadStore,
        dialogue: PartnerDialogue,
        messenger: Messenger | None = None,
        smtp: SmtpSettings | None = None,
        reminder_after: timedelta = timedelta(hours=72),
        followup_after: timedelta = timedelta(days=14),
        client: httpx.AsyncClient | None = None,
        first_retry: float = BACKOFF[0],
    ) -> None:
        self.first_retry = first_retry
        self.leads = leads
        self.dialogue = dialogue  # the texts partners and people read
        self.partners = dialogue.partners
        self.messenger = messenger
        self.smtp = smtp
        self.reminder_after = reminder_after
        self.followup_after = followup_after
        self.client = client or httpx.AsyncClient(trust_env=False)
        self.moves = ChatMoves(leads.engine)
        self._wake = asyncio.Event()

    async def close(self) -> None:
        await self.client.aclose()

    async def run_once(self, most: int = 20) -> int:
        """Perform the jobs due now, each claimed just before its attempt (so its lease
        covers that attempt only); how many were attempted."""
        done = 0
        while done < most and (jobs := await self.leads.claim(limit=1)):
            for job in jobs:
                await self.perform(job)
            done += len(jobs)
        return done

    def wake(self) -> None:
        """A lead was just stored by this process: deliver it now rather than at the next
        round (other processes find it at their next round)."""
        self._wake.set()

    async def _pause(self, interval: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), interval)
        self._wake.clear()

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                if not await self.run_once():
                    await self._pause(interval)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is unreachable…: try again later
                log.exception("outbox round failed")
                await asyncio.sleep(interval)

    async def perform(self, job: Job) -> None:
        try:
            async with asyncio.timeout(ATTEMPT_LIMIT):
                sent = await self._perform(job)
        except TimeoutError:
            DELIVERIES.labels(job.kind.value, job.channel or "-", "retry").inc()
            log.warning("job %s (%s) took too long; will be retried", job.id, job.kind)
            await self._retry(job, "attempt too long")
            return
        except DeliveryError as exc:
            if exc.permanent or job.attempts >= len(BACKOFF):
                DELIVERIES.labels(job.kind.value, job.channel or "-", "failed").inc()
                log.warning("job %s (%s) failed for good: %s", job.id, job.kind, exc.reason)
                await self.leads.fail(job, exc.reason)
                if job.kind is JobKind.deliver:
                    await self._undeliverable(job)
            else:
                DELIVERIES.labels(job.kind.value, job.channel or "-", "retry").inc()
                log.info("job %s (%s) will be retried: %s", job.id, job.kind, exc.reason)
                await self.leads.retry(job, exc.reason, backoff(job.attempts, self.first_retry))
            return
        except Exception as exc:
            DELIVERIES.labels(job.kind.value, job.channel or "-", "retry").inc()
            log.exception("job %s (%s) raised", job.id, job.kind)
            await self._retry(job, type(exc).__name__)
            return
        DELIVERIES.labels(job.kind.value, job.channel or "-", "ok").inc()
        await self.leads.done(job, sent)
        if job.kind is JobKind.deliver and job.channel and not await self.leads.get(job.lead_id):
            # erased during this attempt: the notice waiting behind it goes now
            await erasure_unblocked(self.leads.engine, job.lead_id, job.channel)

    async def _retry(self, job: Job, reason: str) -> None:
        await self.leads.retry(job, reason, backoff(job.attempts, self.first_retry))
        if job.kind is JobKind.deliver and job.channel:
            await erasure_unblocked(self.leads.engine, job.lead_id, job.channel)

    async def _undeliverable(self, job: Job) -> None:
        """A delivery failed for good: when every channel did, the lead is failed and the
        person (or the operator who sent it) is told, with other contacts."""
        if job.channel:
            await erasure_unblocked(self.leads.engine, job.lead_id, job.channel)
        lead = await self.leads.fail_if_undeliverable(job.lead_id)
        if lead is not None:
            LEADS.labels(LeadStatus.failed.value).inc()
            log.warning("lead %s could not be delivered on any channel", lead.id)

    # ---------------------------------------------------------------- one job

    async def _perform(self, job: Job) -> list[tuple[int, int]]:
        """Do one job; the Telegram messages it sent to a partner, if any."""
        if job.kind is JobKind.erased:
            await self._erased(job)
            return []
        lead = await self.leads.get(job.lead_id)
        if lead is None:  # erased at the person's request, or purged: nothing to do
            return []
        if job.kind is JobKind.deliver:
            return await self._deliver(job, lead)
        if job.kind is JobKind.notify:
            await self._tell_person(lead, self.dialogue.lead_notice(lead, job.payload))
        elif job.kind is JobKind.remind:
            return await self._remind(job, lead)
        elif job.kind is JobKind.followup and self._still_waiting(lead):
            await self._tell_person(lead, self.dialogue.followup_question(lead))
        elif job.kind is JobKind.unanswered:
            await self._unanswered(lead)
        return []

    @staticmethod
    def _still_waiting(lead: Lead) -> bool:
        return lead.status in (LeadStatus.delivered, LeadStatus.taken) and not lead.followup

    def _organisation(self, job: Job) -> Organisation:
        organisation = self.partners.get(job.organisation or "")
        if organisation is None:
            raise DeliveryError(
                f"organisation {job.organisation!r} is not configured", permanent=True
            )
        return organisation

    async def _send(
        self,
        organisation: Organisation,
        channel: str,
        lead: dict[str, Any],
        event: str,
        reply: Callable[[], Reply],
    ) -> list[tuple[int, int]]:
        if channel == "webhook":
            assert organisation.webhook_url and organisation.webhook_secret
            secret = organisation.webhook_secret.get_secret_value()
            await post_webhook(self.client, organisation.webhook_url, secret, lead, event)
        elif channel == "email":
            if self.smtp is None or organisation.email is None:
                raise DeliveryError("no SMTP server configured (SMTP_HOST)", permanent=False)
            await send_email(self.smtp, organisation.email, lead, event)
        elif channel == "telegram":
            return await self._send_telegram(organisation, reply())
        else:
            raise DeliveryError(f"unknown channel {channel!r}", permanent=True)
        return []

    async def _send_telegram(
        self, organisation: Organisation, reply: Reply
    ) -> list[tuple[int, int]]:
        if self.messenger is None or organisation.telegram_chat_id is None:
            raise DeliveryError("no Telegram bot to deliver with", permanent=False)
        chat = await self.moves.moved_chat(organisation.telegram_chat_id)
        try:
            ids = await self.messenger.send(chat, reply)
        except ChatMoved as moved:  # the group became a supergroup: follow it at once
            await self.moves.record_move(organisation.telegram_chat_id, moved.new_chat_id)
            log.warning(
                "partners file: organisation %s's Telegram group is now a supergroup; "
                "replace telegram_chat_id %s by %s in PARTNERS_FILE",
                organisation.id,
                organisation.telegram_chat_id,
                moved.new_chat_id,
            )
            chat = moved.new_chat_id
            ids = await self.messenger.send(chat, reply)
        return [(chat, message_id) for message_id in ids]

    async def _deliver(self, job: Job, lead: Lead) -> list[tuple[int, int]]:
        organisation = self._organisation(job)
        reply = partial(self.dialogue.partner_lead, lead)
        sent = await self._send(organisation, job.channel or "", lead.data, "lead.created", reply)
        channels = organisation.channels
        if await self.leads.mark_delivered(
            lead, self.reminder_after, self.followup_after, channels
        ):
            LEADS.labels("delivered").inc()
        return sent

    async def _remind(self, job: Job, lead: Lead) -> list[tuple[int, int]]:
        """One reminder on one channel (a failing channel never repeats the others)."""
        if lead.status is not LeadStatus.delivered:  # someone answered: no reminder
            return []
        organisation = self._organisation(job)
        reply = partial(self.dialogue.partner_lead, lead, reminder=True)
        channels: Sequence[str] = [job.channel] if job.channel else organisation.channels
        sent: list[tuple[int, int]] = []
        for channel in channels:
            sent += await self._send(organisation, channel, lead.data, "lead.reminder", reply)
        number = int(job.payload.get("n", 1))
        if number < REMINDERS:
            await self.leads.enqueue(
                JobKind.remind,
                lead.id,
                f"remind:{number + 1}:{job.channel}" if job.channel else f"remind:{number + 1}",
                due_at=now() + self.reminder_after,
                organisation=lead.organisation,
                channel=job.channel,
                payload={"n": number + 1},
            )
        else:  # the last reminder: if it goes unanswered too, whoever sent the lead is told
            await self.leads.enqueue(
                JobKind.unanswered, lead.id, "unanswered", due_at=now() + self.reminder_after
            )
        return sent

    async def _unanswered(self, lead: Lead) -> None:
        """Nobody took the lead after the reminders: never left silent. The operator who
        sent it may hand it to another partner; the person is offered other contacts."""
        if lead.status is not LeadStatus.delivered or lead.unanswered_at is not None:
            return  # someone answered in the meantime
        notice = self.dialogue.lead_notice(lead, {"event": "unanswered", "reminders": REMINDERS})
        await self._tell_person(lead, notice)
        if await SentLeads(self.leads.engine).mark_unanswered(lead.id):
            LEADS.labels("unanswered").inc()

    async def _erased(self, job: Job) -> None:
        """The erasure notice on one channel; in the partner's Telegram group, the
        messages that carried the lead are edited to say the data was erased."""
        organisation = self._organisation(job)
        notice: dict[str, Any] = {"id": job.lead_id, "organisation": {"id": organisation.id}}
        reply = partial(self.dialogue.erased_notice, job.lead_id)
        channels = [job.channel] if job.channel else organisation.channels
        for channel in channels:
            if channel == "telegram" and await self._edit_erased(job.lead_id, reply()):
                continue
            await self._send(organisation, channel, notice, "lead.erased", reply)

    async def _edit_erased(self, lead_id: str, reply: Reply) -> bool:
        """Blank every message sent about the lead; False when none could be edited."""
        if self.messenger is None:
            return False
        edited = False
        for chat, message_id in await self.leads.sent_messages(lead_id):
            try:
                await self.messenger.edit(await self.moves.moved_chat(chat), message_id, reply)
                edited = True
            except DeliveryError as exc:  # deleted by the partner, too old…
                log.info("could not blank an erased lead's message: %s", exc.reason)
        return edited

    async def _tell_person(self, lead: Lead, reply: Reply) -> None:
        """The person, in their chat; for a lead qualified by an operator on someone's
        behalf (the person has no chat with Boussole), the operator."""
        chat_id = telegram_chat(lead.chat_key) or lead.operator_id
        if chat_id is None or self.messenger is None:
            return  # a console conversation: the status shows in « mesdonnees »
        await self.messenger.send(chat_id, reply)
