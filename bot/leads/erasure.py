"""Erasure of leads: whoever holds a person's data is told, whatever the delivery's state.

Used by the person's `/oublier` (every lead of their chat, in the transaction that
deletes their conversation), by an operator erasing the leads of a person they qualified,
and by that person with their erasure code (`erase_leads`, `erase_one`; see
bot/leads/handoff.py). See docs/guarantees.md for what partners can rely on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.leads.store import JobKind, JobRow, Lead, LeadRow, _aware, _lead, enqueue, now
from bot.platform.storage import checkpoint


async def erase_lead(conn: AsyncConnection, lead: Lead) -> list[str]:
    """Delete one lead in the caller's transaction, and queue one erasure notice per
    channel that has or may have its data, whatever the delivery's state.

    A channel may hold the data as soon as one delivery attempt started: done, failed
    after sending (a timeout's outcome is unknown), waiting for a retry, or in flight. An
    in-flight (leased) job is left alone: it ends by itself, finds the lead gone, and its
    channel's notice waits for the end of the lease (or is released earlier by
    `erasure_unblocked`), so the notice never overtakes the lead. Jobs not started yet are
    deleted: those channels never had anything. The channels told, if any."""
    moment = now()
    jobs = (await conn.execute(select(JobRow).where(JobRow.lead_id == lead.id))).all()
    holders: dict[str, datetime] = {}  # channel → when its notice may go
    for job in jobs:
        if job.kind != JobKind.deliver.value or not job.channel or not job.attempts:
            continue
        leased = job.status == "pending" and job.locked_until and _aware(job.locked_until) > moment
        due = _aware(job.locked_until) if leased else moment
        holders[job.channel] = max(due, holders.get(job.channel, moment))
    await conn.execute(
        delete(JobRow).where(
            JobRow.lead_id == lead.id,
            JobRow.status == "pending",
            or_(JobRow.locked_until.is_(None), JobRow.locked_until < moment),
        )
    )
    for channel, due in sorted(holders.items()):
        await enqueue(
            conn,
            JobKind.erased,
            lead.id,
            f"erased:{channel}",
            due_at=due,
            organisation=lead.organisation,
            channel=channel,
            payload={"id": lead.id, "organisation": lead.organisation},
        )
    await conn.execute(delete(LeadRow).where(LeadRow.id == lead.id))
    return sorted(holders)


async def erase_chat(conn: AsyncConnection, chat_key: str) -> list[Lead]:
    """Delete a person's leads (in the caller's transaction) and queue the notice to
    every organisation's channel that has or may have one; the erased leads, for the
    confirmation. Leads qualified by an operator on behalf of someone else are that
    person's (their own key), so an operator's own erasure leaves them alone."""
    rows = (await conn.execute(select(LeadRow).where(LeadRow.chat_key == chat_key))).all()
    leads = [_lead(r) for r in rows]
    for lead in leads:
        await erase_lead(conn, lead)
    return leads


async def erase_one(engine: AsyncEngine, lead_id: str) -> Lead | None:
    """Erase one lead and tell whoever holds it (an operator's erasure of one lead)."""
    erased = await erase_leads(engine, [lead_id])
    return erased[0][0] if erased else None


async def erase_leads(engine: AsyncEngine, lead_ids: list[str]) -> list[tuple[Lead, list[str]]]:
    """Erase these leads in one transaction, each channel that has or may have one told
    (an operator's erasure of a person's leads, or the person's with their code); each
    lead erased, with the channels told."""
    erased: list[tuple[Lead, list[str]]] = []
    async with engine.begin() as conn:
        rows = (await conn.execute(select(LeadRow).where(LeadRow.id.in_(lead_ids)))).all()
        for row in rows:
            lead = _lead(row)
            erased.append((lead, await erase_lead(conn, lead)))
    await checkpoint(engine)
    return erased


async def erasure_unblocked(engine: AsyncEngine, lead_id: str, channel: str) -> None:
    """An in-flight delivery of an erased lead ended: its channel's notice goes now."""
    async with engine.begin() as conn:
        await conn.execute(
            update(JobRow)
            .where(JobRow.dedupe_key == f"{lead_id}:erased:{channel}", JobRow.status == "pending")
            .values(due_at=now())
        )
