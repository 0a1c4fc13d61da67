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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    String,
    Text,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from bot.platform.storage import Base


class LeadStatus(StrEnum):
    new = "new"  # stored, not delivered yet
    delivered = "delivered"  # reached the organisation
    taken = "taken"  # someone took it in charge
    declined = "declined"  # « pas pour nous »
    closed = "closed"
    failed = "failed"  # no channel could ever deliver it: the person was told


class JobKind(StrEnum):
    deliver = "deliver"  # the lead to one channel of the organisation
    notify = "notify"  # tell the person (delivered, taken, declined, closed)
    remind = "remind"  # remind the organisation that did not answer
    followup = "followup"  # ask the person whether they were contacted
    erased = "erased"  # tell the organisation the person asked for erasure


class LeadRow(Base):
    __tablename__ = "leads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    chat_key: Mapped[str] = mapped_column(String(80), index=True)
    organisation: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    data_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decline_reason: Mapped[str | None] = mapped_column(String(40))
    followup: Mapped[str | None] = mapped_column(String(16))
    operator_id: Mapped[int | None] = mapped_column(BigInteger)


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    lead_id: Mapped[str] = mapped_column(String(36), index=True)
    organisation: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str | None] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    payload_json: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: the Telegram messages this job sent ([[chat id, message id], …]), to edit them later
    sent_json: Mapped[str | None] = mapped_column(Text)


class OrientationRow(Base):
    """One finished orientation, anonymous: for statistics and unmet demand."""

    __tablename__ = "orientations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    profile: Mapped[str | None] = mapped_column(String(40))
    schemes: Mapped[str] = mapped_column(String(400))  # recommended ids, best first
    unmet: Mapped[bool] = mapped_column(Boolean)


@dataclass(frozen=True)
class Job:
    id: int
    kind: JobKind
    lead_id: str
    organisation: str | None
    channel: str | None
    payload: dict[str, Any]
    attempts: int
    due_at: datetime
    #: the end of this worker's lease: only the holder of the lease records the outcome
    lease: datetime | None = None


@dataclass(frozen=True)
class Lead:
    id: str
    chat_key: str
    organisation: str
    status: LeadStatus
    data: dict[str, Any]
    created_at: datetime
    delivered_at: datetime | None
    taken_at: datetime | None
    decline_reason: str | None
    followup: str | None
    operator_id: int | None


def _lead(row: Any) -> Lead:
    return Lead(
        id=row.id,
        chat_key=row.chat_key,
        organisation=row.organisation,
        status=LeadStatus(row.status),
        data=json.loads(row.data_json),
        created_at=_aware(row.created_at),
        delivered_at=_aware(row.delivered_at) if row.delivered_at else None,
        taken_at=_aware(row.taken_at) if row.taken_at else None,
        decline_reason=row.decline_reason,
        followup=row.followup,
        operator_id=row.operator_id,
    )


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


async def enqueue(
    conn: AsyncConnection,
    kind: JobKind,
    lead_id: str,
    key: str,
    due_at: datetime | None = None,
    organisation: str | None = None,
    channel: str | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Queue a job unless one with the same key exists; True when queued.

    Two workers queueing the same key at the same instant: the unique key refuses the
    second insert, and its transaction fails (the caller retries or gives up)."""
    moment = now()
    dedupe_key = f"{lead_id}:{key}"
    exists = await conn.scalar(select(JobRow.id).where(JobRow.dedupe_key == dedupe_key))
    if exists is not None:
        return False
    await conn.execute(
        insert(JobRow).values(
            kind=kind.value,
            lead_id=lead_id,
            organisation=organisation,
            channel=channel,
            dedupe_key=dedupe_key,
            payload_json=json.dumps(payload or {}, ensure_ascii=False),
            due_at=due_at or moment,
            status="pending",
            attempts=0,
            created_at=moment,
        )
    )
    return True


async def create_lead(
    conn: AsyncConnection,
    lead: dict[str, Any],
    chat_key: str,
    organisation: str,
    channels: list[str],
    operator_id: int | None = None,
) -> None:
    """Store a lead and queue its delivery, in the caller's transaction."""
    moment = now()
    await conn.execute(
        insert(LeadRow).values(
            id=lead["id"],
            chat_key=chat_key,
            organisation=organisation,
            status=LeadStatus.new.value,
            data_json=json.dumps(lead, ensure_ascii=False),
            created_at=moment,
            updated_at=moment,
            operator_id=operator_id,
        )
    )
    for channel in channels:
        await enqueue(
            conn,
            JobKind.deliver,
            lead["id"],
            f"deliver:{channel}",
            organisation=organisation,
            channel=channel,
        )


async def record_orientation(
    conn: AsyncConnection, profile: str | None, schemes: list[str], unmet: bool
) -> None:
    await conn.execute(
        insert(OrientationRow).values(
            finished_at=now(), profile=profile, schemes=",".join(schemes)[:400], unmet=unmet
        )
    )


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
