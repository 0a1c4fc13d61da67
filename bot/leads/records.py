"""The leads' tables and records, and the writes made in a conversation's transaction.

`LeadRow` (a lead, its status and who sent it), `JobRow` (the outbox: one job per
delivery, notice, reminder…, deduplicated by a unique key) and `OrientationRow` (the
statistics); `create_lead`, `enqueue` and `record_orientation` run in the caller's
transaction. The outbox's own queries are `bot.leads.store.LeadStore`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    String,
    Text,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
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


def on_behalf_key(lead_id: str) -> str:
    """The key of a lead an operator qualified on someone's behalf: the person's own (they
    have no chat with Boussole), so that the operator's `/oublier` leaves it alone; the
    person erases it with their code."""
    return f"behalf:{lead_id}"


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
