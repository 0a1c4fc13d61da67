"""What partners and people read about a lead after it is sent: the lead in the partner's
group with its buttons, the notices to the person, the follow-up question."""

from __future__ import annotations

from bot.leads.model import contact_parts
from bot.leads.partners import Partners
from bot.leads.store import Lead, LeadStatus
from bot.screens.labels import CONTACT_KINDS, DECLINE_REASONS, PARTNER_STATUS, button
from bot.screens.render import Renderer
from bot.screens.views import Action, Button, Kind, Reply

OPEN = (LeadStatus.new, LeadStatus.delivered)


class PartnerDialogue:
    def __init__(self, renderer: Renderer, partners: Partners) -> None:
        self.renderer = renderer
        self.partners = partners

    def _organisation_name(self, lead: Lead) -> str:
        organisation = self.partners.get(lead.organisation)
        return organisation.name if organisation else lead.organisation

    def partner_lead(self, lead: Lead, reminder: bool = False) -> Reply:
        """A lead as the partner organisation's Telegram group sees it, with its buttons."""
        kind, _ = contact_parts(
            f"{lead.data.get('person', {}).get('contact', {}).get('kind', '')}:"
        )
        status = "" if lead.status in OPEN else PARTNER_STATUS.get(lead.status, lead.status)
        if lead.status is LeadStatus.declined and lead.decline_reason:
            status += f" ({DECLINE_REASONS.get(lead.decline_reason, lead.decline_reason)})"
        text = self.renderer.render(
            "lead_partner.j2",
            lead=lead.data,
            contact_kind=CONTACT_KINDS.get(kind, kind).capitalize(),
            status=status,
            reminder=reminder,
            created=lead.created_at.strftime("%d/%m/%Y"),
        )
        return Reply(text, self.partner_buttons(lead))

    def partner_buttons(self, lead: Lead, choosing_reason: bool = False) -> list[list[Button]]:
        def verb(name: str, arg: str) -> list[Button]:
            return [Button(button(name), Action(Kind.partner, arg, lead.id))]

        if choosing_reason:
            rows = [
                [Button(label, Action(Kind.partner, f"reason:{code}", lead.id))]
                for code, label in DECLINE_REASONS.items()
            ]
            return [*rows, verb("back", "back")]
        if lead.status in OPEN:
            return [verb("partner_take", "take"), verb("partner_decline", "decline")]
        if lead.status is LeadStatus.taken:
            return [verb("partner_close", "close"), verb("partner_decline", "decline")]
        return []

    def lead_notice(self, lead: Lead, payload: dict[str, object]) -> Reply:
        """What the person is told when their lead moves on; for a lead qualified on
        behalf of someone, what the operator who sent it is told about that person."""
        event = str(payload.get("event", ""))
        reason = DECLINE_REASONS.get(lead.decline_reason or "", "") if event == "declined" else ""
        text = self.renderer.render(
            "notify.j2",
            kind=event,
            organisation=self._organisation_name(lead),
            reason=reason.lower(),
            date=lead.created_at.strftime("%d/%m/%Y"),
            reminders=payload.get("reminders", ""),
            **self._about(lead),
        )
        rows: list[list[Button]] = []
        if lead.on_behalf:
            rows = follow_buttons(lead.id, hand_on=event in ("declined", "unanswered"))
        elif event in ("declined", "unanswered", "failed"):
            rows = [[Button(button("other_contacts"), Action(Kind.contacts))]]
        return Reply(text, rows)

    @staticmethod
    def _about(lead: Lead) -> dict[str, object]:
        person = lead.data.get("person", {}).get("name", "")
        return {"on_behalf": lead.on_behalf, "person": person}

    def followup_question(self, lead: Lead) -> Reply:
        text = self.renderer.render(
            "notify.j2",
            kind="followup",
            organisation=self._organisation_name(lead),
            date=lead.created_at.strftime("%d/%m/%Y"),
            **self._about(lead),
        )
        suffix = "_on_behalf" if lead.on_behalf else ""
        rows = [
            [Button(button("followup_yes" + suffix), Action(Kind.followup, "yes", lead.id))],
            [Button(button("followup_no" + suffix), Action(Kind.followup, "no", lead.id))],
        ]
        return Reply(text, rows)

    def followup_thanks(self, answer: str, on_behalf: bool = False) -> Reply:
        kind = "followup_yes" if answer == "yes" else "followup_no"
        text = self.renderer.render("notify.j2", kind=kind, organisation="", on_behalf=on_behalf)
        return Reply(text)

    def erased_notice(self, lead_id: str) -> Reply:
        return Reply(self.renderer.render("partner.j2", kind="erased", lead_id=lead_id))

    def partner_notice(self, kind: str) -> str:
        return self.renderer.render("partner.j2", kind=kind, lead_id="")


def follow_buttons(lead_id: str, hand_on: bool = False) -> list[list[Button]]:
    """Under a notice to the operator who sent a lead: hand it on, follow it, erase it."""
    rows = [[Button(button("handoff_other"), Action(Kind.leads, "other", lead_id))]]
    rows = rows if hand_on else []
    return [
        *rows,
        [Button(button("handoff_show"), Action(Kind.leads, "show", lead_id))],
    ]
