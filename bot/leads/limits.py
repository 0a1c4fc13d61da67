"""Limits on leads, so that one account cannot flood a partner: one open lead per person
and organisation, and a daily cap per chat (higher for an operator qualifying people on
behalf of a network). Checked when the person opens the form and again when they send it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.leads.store import LeadRow, LeadStatus, now

#: a lead still waiting for its organisation's answer
OPEN = (LeadStatus.new.value, LeadStatus.delivered.value, LeadStatus.taken.value)
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class LeadLimits:
    per_day: int = 5  # leads a person may send in 24 hours
    per_day_operator: int = 40  # leads an operator may qualify in 24 hours


@dataclass(frozen=True)
class Refusal:
    kind: str  # a key of lead_form.j2
    count: int = 0


class LeadLimiter:
    def __init__(self, engine: AsyncEngine, limits: LeadLimits | None = None) -> None:
        self.engine = engine
        self.limits = limits or LeadLimits()

    async def check(
        self,
        chat_key: str,
        organisation: str,
        operator_id: int | None,
        contact: str | None = None,
    ) -> Refusal | None:
        """Why this chat may not send (or start) a lead to `organisation` now, if so.

        `operator_id`: an operator qualifying a lead on someone's behalf (their leads are
        counted by operator, and « one open lead » is per person, known by `contact`)."""
        async with self.engine.connect() as conn:
            mine = (
                LeadRow.operator_id == operator_id if operator_id else LeadRow.chat_key == chat_key
            )
            sent = await conn.scalar(
                select(func.count())
                .select_from(LeadRow)
                .where(mine, LeadRow.created_at >= now() - DAY)
            )
            cap = self.limits.per_day_operator if operator_id else self.limits.per_day
            if int(sent or 0) >= cap:
                return Refusal("daily_cap_operator" if operator_id else "daily_cap", cap)
            open_here = select(LeadRow.data_json).where(
                LeadRow.organisation == organisation, LeadRow.status.in_(OPEN)
            )
            if operator_id is None:
                found = await conn.scalar(open_here.where(LeadRow.chat_key == chat_key).limit(1))
                return Refusal("open_lead") if found is not None else None
            if contact is None:
                return None
            _, _, value = contact.partition(":")
            rows = await conn.execute(open_here.where(LeadRow.operator_id.is_not(None)))
            for (raw,) in rows.all():
                if json.loads(raw).get("person", {}).get("contact", {}).get("value") == value:
                    return Refusal("open_lead_on_behalf")
        return None
