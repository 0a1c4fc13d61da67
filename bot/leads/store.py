"""Leads and their outbox, in the same database as the conversations.

A lead is written in the same transaction as the conversation step that sends it, with
one outbox job per way of reaching the organisation. A worker (`bot.leads.outbox`) claims due
jobs, performs them and records the outcome; a job is claimed by a conditional update
(works the same on SQLite and PostgreSQL, with several workers), retried with backoff
when it fails, and deduplicated by a unique key, so a lead is never lost and never
queued twice for the same partner. Reminders and follow-ups are jobs due later: they
survive restarts like the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.leads.records import (
    Job,
    JobKind,
    JobRow,
    Lead,
    LeadRow,
    LeadStatus,
    OrientationRow,
    _aware,
    _lead,
    create_lead,
    enqueue,
    now,
    on_behalf_key,
    record_orientation,
)

#: the records and writes of bot.leads.records, importable from here as before
__all__ = [
    "LEASE",
    "Job",
    "JobKind",
    "JobRow",
    "Lead",
    "LeadRow",
    "LeadStatus",
    "LeadStore",
    "OrientationRow",
    "_aware",
    "_lead",
    "create_lead",
    "enqueue",
    "now",
    "on_behalf_key",
    "record_orientation",
]

#: how long a claimed job is this worker's (the outbox bounds one attempt well under it)
LEASE = timedelta(minutes=2)


class LeadStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # ---------------------------------------------------------------- the outbox

    async def claim(self, limit: int = 1, lease: timedelta | None = None) -> list[Job]:
        """Due jobs for this worker: each one is taken by exactly one worker at a time.

        The lease must cover the attempt (the outbox bounds an attempt to `ATTEMPT_LIMIT`,
        well under `LEASE`): claim a job just before performing it, never a batch that
        would be performed after its lease ended and claimed again by another worker."""
        moment = now()
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(JobRow)
                    .where(
                        JobRow.status == "pending",
                        JobRow.due_at <= moment,
                        or_(JobRow.locked_until.is_(None), JobRow.locked_until < moment),
                    )
                    .order_by(JobRow.due_at, JobRow.id)
                    .limit(limit * 4)  # a few spare ones: another worker may take some
                )
            ).all()
        claimed: list[Job] = []
        for row in rows:
            if len(claimed) >= limit:
                break
            until = now() + (lease or LEASE)
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    update(JobRow)
                    .where(
                        JobRow.id == row.id,
                        JobRow.status == "pending",
                        or_(JobRow.locked_until.is_(None), JobRow.locked_until < now()),
                    )
                    .values(locked_until=until, attempts=JobRow.attempts + 1)
                )
            if result.rowcount == 1:
                claimed.append(
                    Job(
                        id=row.id,
                        kind=JobKind(row.kind),
                        lead_id=row.lead_id,
                        organisation=row.organisation,
                        channel=row.channel,
                        payload=json.loads(row.payload_json),
                        attempts=row.attempts + 1,
                        due_at=_aware(row.due_at),
                        lease=until,
                    )
                )
        return claimed

    async def _outcome(self, job: Job, **values: Any) -> bool:
        """Record a job's outcome if this worker still holds its lease."""
        query = update(JobRow).where(JobRow.id == job.id, JobRow.lead_id == job.lead_id)
        if job.lease is not None:
            query = query.where(JobRow.locked_until == job.lease)
        async with self.engine.begin() as conn:
            result = await conn.execute(query.values(locked_until=None, **values))
            return result.rowcount == 1

    async def done(self, job: Job, sent: list[tuple[int, int]] | None = None) -> bool:
        extra = {"sent_json": json.dumps(sent)} if sent else {}
        return await self._outcome(job, status="done", done_at=now(), last_error=None, **extra)

    async def retry(self, job: Job, reason: str, delay: timedelta) -> bool:
        return await self._outcome(job, due_at=now() + delay, last_error=reason[:200])

    async def fail(self, job: Job, reason: str) -> bool:
        return await self._outcome(job, status="failed", last_error=reason[:200])

    async def sent_messages(self, lead_id: str) -> list[tuple[int, int]]:
        """Every Telegram message sent to a partner about a lead (the lead, reminders)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(JobRow.sent_json)
                .where(JobRow.lead_id == lead_id, JobRow.sent_json.is_not(None))
                .order_by(JobRow.id)
            )
            return [(int(c), int(m)) for (raw,) in rows.all() for c, m in json.loads(raw or "[]")]

    async def fail_if_undeliverable(self, lead_id: str) -> Lead | None:
        """Every channel of a new lead failed for good: the lead is failed and the person
        told (a `notify:failed` job), in one transaction; the lead, the first time only."""
        moment = now()
        try:
            async with self.engine.begin() as conn:
                statuses = (
                    await conn.execute(
                        select(JobRow.status).where(
                            JobRow.lead_id == lead_id, JobRow.kind == JobKind.deliver.value
                        )
                    )
                ).all()
                if not statuses or any(status != "failed" for (status,) in statuses):
                    return None
                result = await conn.execute(
                    update(LeadRow)
                    .where(LeadRow.id == lead_id, LeadRow.status == LeadStatus.new.value)
                    .values(status=LeadStatus.failed.value, updated_at=moment)
                )
                if result.rowcount != 1:
                    return None
                await enqueue(
                    conn, JobKind.notify, lead_id, "notify:failed", payload={"event": "failed"}
                )
                row = (await conn.execute(select(LeadRow).where(LeadRow.id == lead_id))).first()
        except IntegrityError:  # another worker did it at the same instant
            return None
        return _lead(row) if row else None

    async def jobs(self, lead_id: str | None = None) -> list[dict[str, Any]]:
        """Every job (for tests, /stats and operators), oldest first."""
        query = select(JobRow).order_by(JobRow.id)
        if lead_id is not None:
            query = query.where(JobRow.lead_id == lead_id)
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]

    # ---------------------------------------------------------------- leads

    async def get(self, lead_id: str) -> Lead | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(LeadRow).where(LeadRow.id == lead_id))).first()
        return _lead(row) if row else None

    async def for_chat(self, chat_key: str) -> list[Lead]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(LeadRow).where(LeadRow.chat_key == chat_key).order_by(LeadRow.created_at)
            )
            return [_lead(r) for r in rows.all()]

    async def for_organisation(self, organisation: str) -> list[Lead]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(LeadRow)
                .where(LeadRow.organisation == organisation)
                .order_by(LeadRow.created_at.desc())
            )
            return [_lead(r) for r in rows.all()]

    async def all(self) -> list[Lead]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(LeadRow).order_by(LeadRow.created_at))
            return [_lead(r) for r in rows.all()]

    async def mark_delivered(
        self,
        lead: Lead,
        reminder_after: timedelta,
        followup_after: timedelta,
        channels: Sequence[str] = (),
    ) -> bool:
        """The first channel reached the organisation: the lead is delivered, and the notice
        to the person, the reminder and the follow-up are queued, in one transaction. True
        the first time only."""
        moment = now()
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    update(LeadRow)
                    .where(LeadRow.id == lead.id, LeadRow.status == LeadStatus.new.value)
                    .values(
                        status=LeadStatus.delivered.value, delivered_at=moment, updated_at=moment
                    )
                )
                if result.rowcount != 1:
                    return False
                await enqueue(
                    conn,
                    JobKind.notify,
                    lead.id,
                    "notify:delivered",
                    payload={"event": "delivered"},
                )
                for channel in channels:  # one reminder job per channel, as deliveries
                    await enqueue(
                        conn,
                        JobKind.remind,
                        lead.id,
                        f"remind:1:{channel}",
                        due_at=moment + reminder_after,
                        organisation=lead.organisation,
                        channel=channel,
                        payload={"n": 1},
                    )
                await enqueue(
                    conn, JobKind.followup, lead.id, "followup", due_at=moment + followup_after
                )
        except IntegrityError:  # another worker did it at the same instant
            return False
        return True

    async def set_status(
        self,
        lead_id: str,
        status: LeadStatus,
        allowed_from: set[LeadStatus],
        reason: str | None = None,
    ) -> bool:
        """Move a lead to `status` if it is in one of `allowed_from` (stale buttons change
        nothing); True when it moved."""
        moment = now()
        values: dict[str, Any] = {"status": status.value, "updated_at": moment}
        if status is LeadStatus.taken:
            values["taken_at"] = moment
        if status is LeadStatus.declined:
            values["decline_reason"] = reason
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(LeadRow)
                .where(LeadRow.id == lead_id, LeadRow.status.in_([s.value for s in allowed_from]))
                .values(**values)
            )
            return result.rowcount == 1

    async def record_followup(self, lead_id: str, answer: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(LeadRow)
                .where(LeadRow.id == lead_id)
                .values(followup=answer, updated_at=now())
            )
            return result.rowcount == 1

    async def enqueue(self, kind: JobKind, lead_id: str, key: str, **kwargs: Any) -> bool:
        try:
            async with self.engine.begin() as conn:
                return await enqueue(conn, kind, lead_id, key, **kwargs)
        except IntegrityError:  # queued at the same instant by another worker
            return False

    async def orientations(self, since: datetime | None = None) -> list[dict[str, Any]]:
        query = select(OrientationRow).order_by(OrientationRow.finished_at)
        if since is not None:
            query = query.where(OrientationRow.finished_at >= since)
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]

    async def purge(self, older_than: timedelta) -> int:
        """Delete leads (and their finished jobs) created longer ago than `older_than`."""
        cutoff = now() - older_than
        async with self.engine.begin() as conn:
            old = select(LeadRow.id).where(LeadRow.created_at < cutoff)
            await conn.execute(
                delete(JobRow).where(and_(JobRow.lead_id.in_(old), JobRow.kind != "erased"))
            )
            result = await conn.execute(delete(LeadRow).where(LeadRow.created_at < cutoff))
            return int(result.rowcount or 0)
