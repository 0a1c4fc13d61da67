"""What operators of partner organisations see: their leads, an export, statistics.

Operators are listed in the partners file, each tied to one organisation; they see that
organisation's leads only. Anyone else asking gets a clear refusal. Statistics of
orientations are anonymous and global (including the orientations that found no good
scheme: unmet demand); statistics of leads are the organisation's own.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.dialogue.parts import short
from bot.leads.handoff import age, status_text
from bot.leads.partners import Operator, Partners
from bot.leads.sent import SentLeads
from bot.leads.store import Lead, LeadStatus, LeadStore, now
from bot.platform.storage import ConversationRow, unrecognised
from bot.screens.labels import DECLINE_REASONS, LEAD_STATUS_LABELS, button, group, label
from bot.screens.render import Renderer
from bot.screens.views import Action, Button, Kind, Reply, web_network
from knowledge.loader import KnowledgeBase

LIST_LIMIT = 10  # leads shown per status in /leads (the CSV has them all)
FOLLOW_LIMIT = 5  # sent leads with a button to follow them, in /leads
CSV_COLUMNS = [
    "id",
    "created_at",
    "status",
    "name",
    "contact_kind",
    "contact",
    "description",
    "territory",
    "departement",
    "region",
    "profile",
    "stage",
    "schemes",
    "consent_by",
    "consent_version",
    "consent_given_at",
    "delivered_at",
    "taken_at",
    "decline_reason",
    "followup",
    "direction",
    "organisation",
    "sender_organisation",
    "unanswered_at",
]


def _csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class OperatorDesk:
    def __init__(
        self, leads: LeadStore, partners: Partners, renderer: Renderer, kb: KnowledgeBase
    ) -> None:
        self.leads = leads
        self.sent = SentLeads(leads.engine)
        self.partners = partners
        self.render = renderer.render
        self.kb = kb

    def refusal(self) -> Reply:
        return Reply(self.render("operators.j2", kind="refused"))

    def _name(self, organisation_id: str) -> str:
        organisation = self.partners.get(organisation_id)
        return organisation.name if organisation else organisation_id

    async def overview(self, operator: Operator | None) -> Reply:
        """The leads the organisation received, by status; those it sent for someone."""
        if operator is None:
            return self.refusal()
        leads = await self.leads.for_organisation(operator.organisation)
        sent = await self.sent.sent_by(operator.organisation)
        groups = []
        for status in LeadStatus:
            mine = [lead for lead in leads if lead.status is status]
            if mine:
                groups.append(
                    (LEAD_STATUS_LABELS[status.value], len(mine), [self._line(x) for x in mine])
                )
        text = self.render(
            "operators.j2",
            kind="leads",
            organisation=self._name(operator.organisation),
            total=len(leads),
            groups=[(label, count, lines[:LIST_LIMIT]) for label, count, lines in groups],
            sent=[self._sent_line(x) for x in sent[:LIST_LIMIT]],
            sent_total=len(sent),
        )
        rows = [
            [
                Button(
                    button(
                        "handoff_follow",
                        person=short(lead.data.get("person", {}).get("name", ""), 24),
                        organisation=short(self._name(lead.organisation), 24),
                    ),
                    Action(Kind.leads, "show", lead.id),
                )
            ]
            for lead in sent[:FOLLOW_LIMIT]
        ]
        if leads or sent:
            rows.append([Button(button("operator_csv"), Action(Kind.leads, "csv"))])
        rows.append([Button(button("operator_stats"), Action(Kind.stats))])
        return Reply(text, rows)

    @staticmethod
    def _line(lead: Lead) -> str:
        data = lead.data
        schemes = ", ".join(r.get("name", "") for r in data.get("recommended", [])[:2])
        where = (data.get("territory") or {}).get("label", "")
        person = data.get("person", {}).get("name", "")
        parts = [lead.created_at.strftime("%d/%m"), age(lead.created_at), person, schemes, where]
        return " · ".join(p for p in parts if p)

    def _sent_line(self, lead: Lead) -> str:
        person = lead.data.get("person", {}).get("name", "")
        parts = [
            lead.created_at.strftime("%d/%m"),
            age(lead.created_at),
            f"{person} → {self._name(lead.organisation)}",
            status_text(lead),
        ]
        return " · ".join(p for p in parts if p)

    async def export(self, operator: Operator | None) -> Reply:
        """Every lead received and sent, one row each (a lead sent to one's own
        organisation is both)."""
        if operator is None:
            return self.refusal()
        mine = operator.organisation
        received = await self.leads.for_organisation(mine)
        seen = {lead.id for lead in received}
        leads = received + [x for x in await self.sent.sent_by(mine) if x.id not in seen]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow(CSV_COLUMNS)
        for lead in leads:
            data = lead.data
            contact = data.get("person", {}).get("contact", {})
            territory = data.get("territory") or {}
            consent = data.get("consent", {})
            both = lead.organisation == mine and lead.sender_organisation == mine
            direction = "both" if both else "received" if lead.organisation == mine else "sent"
            row = [
                lead.id,
                lead.created_at.isoformat(timespec="seconds"),
                lead.status.value,
                data.get("person", {}).get("name"),
                contact.get("kind"),
                contact.get("value"),
                data.get("project", {}).get("description"),
                territory.get("label"),
                territory.get("departement"),
                territory.get("region"),
                data.get("profile"),
                data.get("stage"),
                " | ".join(r.get("scheme", "") for r in data.get("recommended", [])),
                consent.get("by"),
                consent.get("version"),
                consent.get("given_at"),
                lead.delivered_at.isoformat(timespec="seconds") if lead.delivered_at else "",
                lead.taken_at.isoformat(timespec="seconds") if lead.taken_at else "",
                lead.decline_reason,
                lead.followup,
                direction,
                lead.organisation,
                lead.sender_organisation,
                lead.unanswered_at.isoformat(timespec="seconds") if lead.unanswered_at else "",
            ]
            writer.writerow([_csv_cell(cell) for cell in row])
        name = f"boussole-demandes-{operator.organisation}-{now():%Y-%m-%d}.csv"
        text = self.render("operators.j2", kind="csv", count=len(leads))
        # UTF-8 with a byte order mark, so that spreadsheets read the accents
        return Reply(text, document=(name, out.getvalue().encode("utf-8-sig")))

    async def handoffs(self, organisation: str) -> list[tuple[str, int, dict[str, int]]]:
        """The leads an organisation sent, by partner: how many, and how each ended."""
        names = group("handoff_outcomes")
        by_partner: dict[str, Counter[str]] = {}
        for lead in await self.sent.sent_by(organisation):
            outcomes = by_partner.setdefault(self._name(lead.organisation), Counter())
            if lead.status in (LeadStatus.taken, LeadStatus.closed) and lead.taken_at:
                outcomes[names["taken"]] += 1
            elif lead.status is LeadStatus.declined:
                reason = DECLINE_REASONS.get(lead.decline_reason or "", "").lower()
                outcomes[f"{names['declined']} ({reason})" if reason else names["declined"]] += 1
            elif lead.unanswered_at is not None and lead.status is LeadStatus.delivered:
                outcomes[names["unanswered"]] += 1
            elif lead.status is LeadStatus.closed:
                outcomes[LEAD_STATUS_LABELS["closed"]] += 1
            else:
                outcomes[names["waiting"]] += 1
        return sorted(
            ((name, sum(c.values()), dict(c.most_common())) for name, c in by_partner.items()),
            key=lambda item: (-item[1], item[0]),
        )

    async def _by_network(self, orientations: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
        """Per network tag (`?from=`): web conversations started from its page (those still
        kept), and orientations finished."""
        query = select(ConversationRow.chat_key).where(ConversationRow.chat_key.like("web:%.%"))
        async with self.leads.engine.connect() as conn:
            keys = (await conn.execute(query)).scalars().all()
        started = Counter(network for key in keys if (network := web_network(key)))
        finished = Counter(o["network"] for o in orientations if o.get("network"))
        return [(n, started[n], finished[n]) for n, _ in (started + finished).most_common()]

    async def stats(self, operator: Operator | None) -> Reply:
        if operator is None:
            return self.refusal()
        moment = now()
        named = group("periods")
        periods = [
            (named["week"], moment - timedelta(days=7)),
            (named["month"], moment - timedelta(days=30)),
            (named["all"], None),
        ]
        unknown = label("unknown_value")
        leads = await self.leads.for_organisation(operator.organisation)
        orientations = await self.leads.orientations()
        schemes = self.kb.schemes

        def since(items: list[datetime], start: datetime | None) -> int:
            return sum(1 for moment_ in items if start is None or moment_ >= start)

        finished_at = [o["finished_at"] for o in orientations]
        finished_at = [m if m.tzinfo else m.replace(tzinfo=moment.tzinfo) for m in finished_at]
        created = [lead.created_at for lead in leads]
        top = Counter(o["schemes"].split(",")[0] for o in orientations if o["schemes"])
        unmet = [o for o in orientations if o["unmet"]]
        text = self.render(
            "operators.j2",
            kind="stats",
            organisation=(self.partners.get(operator.organisation) or operator).name
            or operator.organisation,
            periods=[
                (label, since(created, start), since(finished_at, start))
                for label, start in periods
            ],
            by_status=Counter(LEAD_STATUS_LABELS[lead.status.value] for lead in leads),
            by_scheme=Counter(
                r.get("name", "") for lead in leads for r in lead.data.get("recommended", [])[:1]
            ),
            by_region=Counter(
                (lead.data.get("territory") or {}).get("label", "").rpartition(", ")[2] or unknown
                for lead in leads
            ),
            by_profile=Counter(lead.data.get("profile") or unknown for lead in leads),
            orientations=len(orientations),
            top_schemes=[
                (schemes[s].short_name if s in schemes else s, n) for s, n in top.most_common(5)
            ],
            unmet=len(unmet),
            unmet_profiles=Counter(o["profile"] or unknown for o in unmet),
            handoffs=await self.handoffs(operator.organisation),
            by_network=await self._by_network(orientations),
            unrecognised=await unrecognised(self.leads.engine),
            unrecognised_labels=group("unrecognised"),
        )
        return Reply(text, [[Button(button("operator_leads"), Action(Kind.leads))]])
