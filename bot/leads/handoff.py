"""The network's side of a lead it handed off for someone: follow it, hand it on, erase it.

An operator who qualified a lead on behalf of a person they met follows it from /leads or
from the notices the outbox sends them: when the partner declines it or never answers,
they hand it to another partner near the project with the same answers (the consent read
to the person covered it; a lead recorded before that text asks the person again); and
they erase it, after a confirmation, everywhere Boussole holds it, the partners told.
The person can erase it too, with the code the operator gave them (`/oublier CODE`).
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from bot.dialogue.parts import short
from bot.leads.dialogue import CODE_ALPHABET, CODE_LENGTH, LeadDialogue, operator_record
from bot.leads.partner_dialogue import follow_buttons
from bot.leads.partners import Operator, Organisation
from bot.leads.sent import SentLeads
from bot.leads.store import Lead, LeadStatus, LeadStore, on_behalf_key
from bot.platform.observe import LEADS
from bot.screens.labels import DECLINE_REASONS, LEAD_STATUS_LABELS, button, group
from bot.screens.render import html_to_text
from bot.screens.views import Action, Button, Kind, Reply

#: a lead may be handed on when its partner declined it or never answered
HAND_ON = {LeadStatus.declined}
MAX_TARGETS = 5


def target_key(organisation_id: str) -> str:
    """A short stand-in for an organisation in a button (Telegram allows 64 bytes)."""
    return hashlib.sha256(organisation_id.encode()).hexdigest()[:8]


def age(moment: datetime) -> str:
    days = (datetime.now(UTC) - moment).days
    ages = group("age")
    return ages["today"] if days < 1 else ages["days"].format(n=days)


def status_text(lead: Lead) -> str:
    """A lead's status as the operators read it, with the reason or the silence."""
    text = LEAD_STATUS_LABELS.get(lead.status.value, lead.status.value)
    if lead.status is LeadStatus.declined and lead.decline_reason:
        text += f" ({DECLINE_REASONS.get(lead.decline_reason, lead.decline_reason).lower()})"
    if lead.status is LeadStatus.delivered and lead.unanswered_at is not None:
        text = group("handoff_outcomes")["unanswered"]
    return text


def can_hand_on(lead: Lead) -> bool:
    return lead.status in HAND_ON or (
        lead.status is LeadStatus.delivered and lead.unanswered_at is not None
    )


class HandoffDesk:
    def __init__(self, leads: LeadStore, form: LeadDialogue, on_lead: Callable[[], None]) -> None:
        self.leads = SentLeads(leads.engine)
        self.form = form
        self.parts = form.parts
        self.partners = form.parts.partners
        self.on_lead = on_lead

    def _reply(self, kind: str, rows: list[list[Button]] | None = None, **context: object) -> Reply:
        return Reply(self.parts.renderer.render("handoff.j2", kind=kind, **context), rows or [])

    def _name(self, organisation_id: str) -> str:
        organisation = self.partners.get(organisation_id)
        return organisation.name if organisation else organisation_id

    @staticmethod
    def _person(lead: Lead) -> str:
        return str(lead.data.get("person", {}).get("name", ""))

    async def press(self, operator: Operator, action: Action) -> Reply:
        """A button of an operator on a lead their organisation sent."""
        lead = await self.leads.get(action.question)
        if lead is None:
            return self._reply("gone")
        if lead.sender_organisation != operator.organisation:
            return self._reply("forbidden")
        verb, _, key = action.arg.partition(":")
        if verb == "show":
            return self.show(lead)
        if verb == "erase":
            rows = [
                [Button(button("handoff_erase_yes"), Action(Kind.leads, "erase_ok", lead.id))],
                [Button(button("handoff_erase_no"), Action(Kind.leads, "show", lead.id))],
            ]
            chain = await self._chain(lead)
            told = sorted(
                {self._name(x.organisation) for x in chain if x.status is not LeadStatus.new}
            )
            return self._reply(
                "erase_ask", rows, person=self._person(lead), partners=told, **self._about(lead)
            )
        if verb == "erase_ok":
            erased = await self.erase(lead)
            return self._reply("erased", person=self._person(lead), partners=erased)
        if not can_hand_on(lead):  # taken since, or a stale button
            return self._reply("not_now", follow_buttons(lead.id), status=status_text(lead))
        if verb == "other":
            return await self.targets(lead)
        done = [x for x in await self._chain(lead) if target_key(x.organisation) == key]
        if done:  # a double click, or an old button: it is already on its way there
            target_name = self._name(done[0].organisation)
            return self._reply("already", person=self._person(lead), target=target_name)
        target = next((o for o in await self.nearby(lead) if target_key(o.id) == key), None)
        if target is None:
            return self._reply("no_target", follow_buttons(lead.id))
        if verb == "to":
            return self.choose(lead, target, operator)
        if verb == "send" and not self.covered(lead):  # forged: the person was not asked
            return self.choose(lead, target, operator)
        if verb in ("send", "agree"):
            return await self.hand_on(lead, target, operator, fresh=verb == "agree")
        return self._reply("gone")

    def _about(self, lead: Lead) -> dict[str, object]:
        return {
            "organisation": self._name(lead.organisation),
            "created": lead.created_at.strftime("%d/%m/%Y"),
            "age": age(lead.created_at),
            "status": status_text(lead),
        }

    def show(self, lead: Lead) -> Reply:
        rows = follow_buttons(lead.id, hand_on=can_hand_on(lead))[:-1]  # not « follow » again
        rows.append([Button(button("handoff_erase"), Action(Kind.leads, "erase", lead.id))])
        rows.append([Button(button("operator_leads"), Action(Kind.leads))])
        handed_from = lead.data.get("handed_from") or {}
        return self._reply(
            "show",
            rows,
            person=self._person(lead),
            contact=lead.data.get("person", {}).get("contact", {}).get("value", ""),
            where=(lead.data.get("territory") or {}).get("label", ""),
            previous=self._name(handed_from["organisation"]) if handed_from else "",
            code=lead.erasure_code or "",
            **self._about(lead),
        )

    async def _chain(self, lead: Lead) -> list[Lead]:
        """The leads of the same person: this one and those it was handed on as."""
        if not lead.erasure_code:
            return [lead]
        return await self.leads.with_erasure_code(lead.erasure_code)

    async def nearby(self, lead: Lead) -> list[Organisation]:
        """Partners near the project, as its result screen would route it, not yet tried."""
        data = lead.data
        territory = data.get("territory") or {}
        key = next(
            (
                f"{kind}:{territory[field]}"
                for kind, field in (("c", "commune"), ("d", "departement"), ("r", "region"))
                if territory.get(field)
            ),
            "",
        )
        routing = self.parts.router.route(
            self.parts.geo.from_key(key),
            data.get("profile"),
            data.get("stage"),
            [r.get("scheme", "") for r in data.get("recommended", [])],
        )
        # not the partners tried already, nor the sender: they met the person themselves
        tried = {x.organisation for x in await self._chain(lead)} | {lead.sender_organisation}
        found: list[Organisation] = []
        for match in routing.contacts:
            organisation = self.partners.for_contact(match.item_id)
            if organisation and organisation.id not in tried and organisation not in found:
                found.append(organisation)
        return found[:MAX_TARGETS]

    async def targets(self, lead: Lead) -> Reply:
        found = await self.nearby(lead)
        rows = [
            [
                Button(
                    button("handoff_to", organisation=o.name),
                    Action(Kind.leads, f"to:{target_key(o.id)}", lead.id),
                )
            ]
            for o in found
        ]
        rows.append([Button(button("handoff_cancel"), Action(Kind.leads, "show", lead.id))])
        kind = "targets" if found else "no_target"
        return self._reply(kind, rows, person=self._person(lead), **self._about(lead))

    @staticmethod
    def covered(lead: Lead) -> bool:
        """The consent read to the person covered another partner near the project."""
        return bool(lead.data.get("consent", {}).get("other_partners"))

    def choose(self, lead: Lead, target: Organisation, operator: Operator) -> Reply:
        key = target_key(target.id)
        cancel = [Button(button("handoff_cancel"), Action(Kind.leads, "show", lead.id))]
        if self.covered(lead):
            rows = [[Button(button("handoff_send"), Action(Kind.leads, f"send:{key}", lead.id))]]
            return self._reply(
                "confirm", [*rows, cancel], person=self._person(lead), target=target.name
            )
        agree = short(button("consent_yes_on_behalf", organisation=target.name))
        rows = [
            [Button(agree, Action(Kind.leads, f"agree:{key}", lead.id))],
            [Button(button("consent_no_on_behalf"), Action(Kind.leads, "show", lead.id))],
        ]
        consent = self.form.consent_text(target, operator)
        return self._reply(
            "ask_again", rows, person=self._person(lead), target=target.name, consent=consent
        )

    async def hand_on(
        self, lead: Lead, target: Organisation, operator: Operator, fresh: bool
    ) -> Reply:
        """The same answers, to another partner: a new lead, delivered like the first."""
        member = self.partners.get(operator.organisation)
        data = copy.deepcopy(lead.data)
        moment = datetime.now(UTC).isoformat(timespec="seconds")
        root = (data.get("handed_from") or {}).get("root", lead.id)
        data.update(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"boussole:{root}:{target.id}")),
            created_at=moment,
            status="new",
            organisation={"id": target.id, "name": target.name},
            operator=operator_record(operator, member.name if member else operator.organisation),
            handed_from={"id": lead.id, "root": root, "organisation": lead.organisation},
        )
        if fresh:  # the person was asked again, for this partner
            data["consent"] = {
                "text": html_to_text(self.form.consent_text(target, operator)),
                "version": self.form.consent_version_for(target, operator),
                "given_at": moment,
                "by": "operator",
                "other_partners": True,
            }
        stored = await self.leads.create(
            data,
            on_behalf_key(data["id"]),
            target.id,
            target.channels,
            operator_id=operator.telegram_user_id,
            sender_organisation=operator.organisation,
            erasure_code=lead.erasure_code,
        )
        if not stored:  # a double click: it is already on its way
            return self._reply("already", person=self._person(lead), target=target.name)
        LEADS.labels("new").inc()
        self.on_lead()
        return self._reply("handed_on", person=self._person(lead), target=target.name)

    async def erase(self, lead: Lead) -> list[str]:
        """Erase the person's leads everywhere Boussole holds them; the partners told."""
        erased = await self.leads.erase_leads([x.id for x in await self._chain(lead)])
        LEADS.labels("erased").inc(len(erased))
        # told: the partners that have or may have it (a delivery attempt started)
        return sorted({self._name(x.organisation) for x, channels in erased if channels})

    # ------------------------------------------------------------ the person's code

    @staticmethod
    def read_code(text: str) -> str | None:
        """The erasure code in `/oublier CODE`, if the text holds one."""
        code = "".join(text.split()[1:]).replace("-", "").upper()
        if len(code) == CODE_LENGTH and all(c in CODE_ALPHABET for c in code):
            return code
        return None

    async def code(self, arg: str) -> Reply:
        """The person of an on-behalf lead erases it with their code: ask, then erase."""
        verb, _, code = arg.partition(":")
        if verb == "code_no":
            return self._reply("code_kept")
        leads = await self.leads.with_erasure_code(code) if code else []
        if not leads:
            return self._reply("code_unknown")
        if verb == "code_ok":
            erased = await self.erase(leads[0])
            return self._reply("code_done", partners=erased)
        rows = [
            [Button(button("code_erase_yes"), Action(Kind.forget, f"code_ok:{code}"))],
            [Button(button("code_erase_no"), Action(Kind.forget, "code_no:"))],
        ]
        names = sorted({self._name(x.organisation) for x in leads})
        return self._reply("code_ask", rows, partners=names, person=self._person(leads[0]))
