"""The leads a network hands off for someone, as the sending organisation follows them.

Queries and changes besides the outbox's (`bot.leads.store`): the leads an organisation
sent, the leads of an erasure code, a lead found unanswered after the reminders, and the
erasure of chosen leads (an operator's, or a person's with their code).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bot.leads.store import (
    JobKind,
    JobRow,
    Lead,
    LeadRow,
    LeadStatus,
    LeadStore,
    _lead,
    create_lead,
    enqueue,
    now,
)


class SentLeads(LeadStore):
    async def sent_by(self, organisation: str) -> list[Lead]:
        """The leads an organisation's operators qualified for someone, newest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(LeadRow)
                .where(LeadRow.sender_organisation == organisation)
                .order_by(LeadRow.created_at.desc())
            )
            return [_lead(r) for r in rows.all()]

    async def with_erasure_code(self, code: str) -> list[Lead]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(LeadRow).where(LeadRow.erasure_code == code))
            return [_lead(r) for r in rows.all()]

    async def create(
        self,
        lead: dict[str, Any],
        chat_key: str,
        organisation: str,
        channels: list[str],
        **sender: Any,
    ) -> bool:
        """Store a lead and queue its delivery in a transaction of its own; False when a
        lead with the same id exists (a double click)."""
        try:
            async with self.engine.begin() as conn:
                await create_lead(conn, lead, chat_key, organisation, channels, **sender)
        except IntegrityError:
            return False
        return True

    async def mark_unanswered(self, lead_id: str) -> bool:
        """Nobody took a delivered lead after the reminders: recorded once; True then."""
        moment = now()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(LeadRow)
                .where(
                    LeadRow.id == lead_id,
                    LeadRow.status == LeadStatus.delivered.value,
                    LeadRow.unanswered_at.is_(None),
                )
                .values(unanswered_at=moment, updated_at=moment)
            )
            return result.rowcount == 1

    async def erase_leads(self, lead_ids: list[str]) -> list[Lead]:
        """Delete these leads and their pending jobs, and queue the notice to each
        organisation that received one (as for a person's own erasure)."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(select(LeadRow).where(LeadRow.id.in_(lead_ids)))).all()
            leads = [_lead(r) for r in rows]
            for lead in leads:
                await conn.execute(
                    delete(JobRow).where(JobRow.lead_id == lead.id, JobRow.status == "pending")
                )
                if lead.status is not LeadStatus.new:
                    await enqueue(
                        conn,
                        JobKind.erased,
                        lead.id,
                        "erased",
                        organisation=lead.organisation,
                        payload={"id": lead.id, "organisation": lead.organisation},
                    )
            await conn.execute(delete(LeadRow).where(LeadRow.id.in_([x.id for x in leads])))
        return leads
