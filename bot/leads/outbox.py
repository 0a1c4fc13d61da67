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


class Messenger(Protocol):
    """Sends a reply to a Telegram chat (implemented by bot/app.py)."""

    async def send(self, chat_id: int, reply: Reply) -> None: ...


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
        self._wake = asyncio.Event()

    async def close(self) -> None:
        await self.client.aclose()

    async def run_once(self) -> int:
        """Perform the jobs due now; how many were attempted."""
        jobs = await self.leads.claim()
        for job in jobs:
            await self.perform(job)
        return len(jobs)

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
            await self._perform(job)
        except DeliveryError as exc:
            if exc.permanent or job.attempts >= len(BACKOFF):
                DELIVERIES.labels(job.kind.value, job.channel or "-", "failed").inc()
                log.warning("job %s (%s) failed for good: %s", job.id, job.kind, exc.reason)
                await self.leads.fail(job, exc.reason)
            else:
                DELIVERIES.labels(job.kind.value, job.channel or "-", "retry").inc()
                log.info("job %s (%s) will be retried: %s", job.id, job.kind, exc.reason)
                await self.leads.retry(job, exc.reason, backoff(job.attempts, self.first_retry))
            return
        except Exception as exc:
            DELIVERIES.labels(job.kind.value, job.channel or "-", "retry").inc()
            log.exception("job %s (%s) raised", job.id, job.kind)
            await self.leads.retry(job, type(exc).__name__, backoff(job.attempts, self.first_retry))
            return
        DELIVERIES.labels(job.kind.value, job.channel or "-", "ok").inc()
        await self.leads.done(job)

    # ---------------------------------------------------------------- one job

    async def _perform(self, job: Job) -> None:
        if job.kind is JobKind.erased:
            await self._erased(job)
            return
        lead = await self.leads.get(job.lead_id)
        if lead is None:  # erased at the person's request, or purged: nothing to do
            return
        if job.kind is JobKind.deliver:
            await self._deliver(job, lead)
        elif job.kind is JobKind.notify:
            await self._tell_person(lead, self.dialogue.lead_notice(lead, job.payload))
        elif job.kind is JobKind.remind:
            await self._remind(job, lead)
        elif job.kind is JobKind.followup and self._still_waiting(lead):
            await self._tell_person(lead, self.dialogue.followup_question(lead))
        elif job.kind is JobKind.unanswered:
            await self._unanswered(lead)

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
    ) -> None:
        if channel == "webhook":
            assert organisation.webhook_url and organisation.webhook_secret
            secret = organisation.webhook_secret.get_secret_value()
            await post_webhook(self.client, organisation.webhook_url, secret, lead, event)
        elif channel == "email":
            if self.smtp is None or organisation.email is None:
                raise DeliveryError("no SMTP server configured (SMTP_HOST)", permanent=False)
            await send_email(self.smtp, organisation.email, lead, event)
        elif channel == "telegram":
            if self.messenger is None or organisation.telegram_chat_id is None:
                raise DeliveryError("no Telegram bot to deliver with", permanent=False)
            await self.messenger.send(organisation.telegram_chat_id, reply())
        else:
            raise DeliveryError(f"unknown channel {channel!r}", permanent=True)

    async def _deliver(self, job: Job, lead: Lead) -> None:
        organisation = self._organisation(job)
        reply = partial(self.dialogue.partner_lead, lead)
        await self._send(organisation, job.channel or "", lead.data, "lead.created", reply)
        if await self.leads.mark_delivered(lead, self.reminder_after, self.followup_after):
            LEADS.labels("delivered").inc()

    async def _remind(self, job: Job, lead: Lead) -> None:
        if lead.status is not LeadStatus.delivered:  # someone answered: no reminder
            return
        organisation = self._organisation(job)
        reply = partial(self.dialogue.partner_lead, lead, reminder=True)
        channels: Sequence[str] = organisation.channels
        for channel in channels:
            await self._send(organisation, channel, lead.data, "lead.reminder", reply)
        number = int(job.payload.get("n", 1))
        if number < REMINDERS:
            await self.leads.enqueue(
                JobKind.remind,
                lead.id,
                f"remind:{number + 1}",
                due_at=now() + self.reminder_after,
                organisation=lead.organisation,
                payload={"n": number + 1},
            )
        else:  # the last reminder: if it goes unanswered too, whoever sent the lead is told
            await self.leads.enqueue(
                JobKind.unanswered, lead.id, "unanswered", due_at=now() + self.reminder_after
            )

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
        organisation = self._organisation(job)
        notice: dict[str, Any] = {"id": job.lead_id, "organisation": {"id": organisation.id}}
        reply = partial(self.dialogue.erased_notice, job.lead_id)
        for channel in organisation.channels:
            await self._send(organisation, channel, notice, "lead.erased", reply)

    async def _tell_person(self, lead: Lead, reply: Reply) -> None:
        chat_id = telegram_chat(lead.chat_key)
        if chat_id is None or self.messenger is None:
            return  # a console conversation: the status shows in « mesdonnees »
        await self.messenger.send(chat_id, reply)
