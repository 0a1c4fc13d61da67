"""The leads a network hands off for someone, as the sending organisation follows them.

Queries and changes besides the outbox's (`bot.leads.store`): the leads an organisation
sent, the leads of an erasure code, a lead found unanswered after the reminders, and the
erasure of chosen leads (an operator's, or a person's with their code).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.leads.erasure import erase_leads
from bot.leads.store import Lead, LeadRow, LeadStatus, LeadStore, _lead, create_lead, now


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

    async def erase_leads(self, lead_ids: list[str]) -> list[tuple[Lead, list[str]]]:
        """Erase these leads the way every erasure goes (`bot.leads.erasure`): each
        channel that has or may have one is told, whatever its delivery's state; each
        lead erased, with the channels told."""
        return await erase_leads(self.engine, lead_ids)
