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


class JobKind(StrEnum):
    deliver = "deliver"  # the lead to one channel of the organisation
    notify = "notify"  # tell the person (delivered, taken, declined, closed)
    remind = "remind"  # remind the organisation that did not answer
    followup = "followup"  # ask the person whether they were contacted
    erased = "erased"  # tell the organisation the person asked for erasure
    unanswered = "unanswered"  # nobody answered after the reminders: tell who sent it


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
    #: the organisation of the operator who qualified the lead on behalf of someone
    sender_organisation: Mapped[str | None] = mapped_column(String(40), index=True)
    #: the code given to the person of an on-behalf lead, to erase it themselves
    erasure_code: Mapped[str | None] = mapped_column(String(16), index=True)
    unanswered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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


class OrientationRow(Base):
    """One finished orientation, anonymous: for statistics and unmet demand."""

    __tablename__ = "orientations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    profile: Mapped[str | None] = mapped_column(String(40))
    schemes: Mapped[str] = mapped_column(String(400))  # recommended ids, best first
    unmet: Mapped[bool] = mapped_column(Boolean)
    #: the network whose web page the orientation started from (`?from=`), if any
    network: Mapped[str | None] = mapped_column(String(40), nullable=True)


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
    sender_organisation: str | None = None
    erasure_code: str | None = None
    unanswered_at: datetime | None = None

    @property
    def on_behalf(self) -> bool:
        """Qualified by an operator for someone who never talked to the bot."""
        return self.operator_id is not None


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
        sender_organisation=row.sender_organisation,
        erasure_code=row.erasure_code,
        unanswered_at=_aware(row.unanswered_at) if row.unanswered_at else None,
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
    sender_organisation: str | None = None,
    erasure_code: str | None = None,
) -> None:
    """Store a lead and queue its delivery, in the caller's transaction. The lead is
    checked against :class:`bot.leads.PartnerLead` first: what is stored is what the
    partners' documentation describes."""
    from bot.leads.model import parse_lead

    lead = parse_lead(lead).json_data()
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
            sender_organisation=sender_organisation,
            erasure_code=erasure_code,
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
    conn: AsyncConnection,
    profile: str | None,
    schemes: list[str],
    unmet: bool,
    network: str | None = None,
) -> None:
    await conn.execute(
        insert(OrientationRow).values(
            finished_at=now(),
            profile=profile,
            schemes=",".join(schemes)[:400],
            unmet=unmet,
            network=network,
        )
    )


class LeadStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # ---------------------------------------------------------------- the outbox

    async def claim(self, limit: int = 20, lease: timedelta = timedelta(minutes=2)) -> list[Job]:
        """Due jobs for this worker: each one is taken by exactly one worker at a time."""
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
                    .limit(limit)
                )
            ).all()
        claimed: list[Job] = []
        for row in rows:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    update(JobRow)
                    .where(
                        JobRow.id == row.id,
                        JobRow.status == "pending",
                        or_(JobRow.locked_until.is_(None), JobRow.locked_until < moment),
                    )
                    .values(locked_until=moment + lease, attempts=JobRow.attempts + 1)
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
                    )
                )
        return claimed

    async def done(self, job: Job) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(JobRow)
                .where(JobRow.id == job.id)
                .values(status="done", done_at=now(), locked_until=None, last_error=None)
            )

    async def retry(self, job: Job, reason: str, delay: timedelta) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(JobRow)
                .where(JobRow.id == job.id)
                .values(due_at=now() + delay, locked_until=None, last_error=reason[:200])
            )

    async def fail(self, job: Job, reason: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(JobRow)
                .where(JobRow.id == job.id)
                .values(status="failed", locked_until=None, last_error=reason[:200])
            )

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
        self, lead: Lead, reminder_after: timedelta, followup_after: timedelta
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
                await enqueue(
                    conn,
                    JobKind.remind,
                    lead.id,
                    "remind:1",
                    due_at=moment + reminder_after,
                    organisation=lead.organisation,
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

    async def erase_chat(self, conn: AsyncConnection, chat_key: str) -> list[Lead]:
        """Delete a person's leads (in the caller's transaction) and queue the notice to
        each organisation that received one; the erased leads, for the confirmation."""
        rows = (await conn.execute(select(LeadRow).where(LeadRow.chat_key == chat_key))).all()
        leads = [_lead(r) for r in rows]
        for lead in leads:
            await conn.execute(
                delete(JobRow).where(JobRow.lead_id == lead.id, JobRow.status == "pending")
            )
            if lead.status is not LeadStatus.new:  # the organisation has it: tell them
                await enqueue(
                    conn,
                    JobKind.erased,
                    lead.id,
                    "erased",
                    organisation=lead.organisation,
                    payload={"id": lead.id, "organisation": lead.organisation},
                )
        await conn.execute(delete(LeadRow).where(LeadRow.chat_key == chat_key))
        return leads

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
