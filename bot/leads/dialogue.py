"""Being put in touch: consent first, then the form (name, contact, project), then sending.

The lead and its delivery jobs are stored by the service in the same transaction as the
step that sends it (the `SendLead` effect), so a double click makes one lead.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from bot.dialogue.parts import Parts, Screen, short
from bot.leads.model import (
    DESCRIPTION_MAX,
    build_lead,
    check_contact,
    check_description,
    check_name,
    contact_parts,
)
from bot.leads.partners import Operator, Organisation
from bot.orientation.engine import Session, State
from bot.screens.labels import CONTACT_KINDS, button
from bot.screens.render import html_to_text
from bot.screens.views import Action, Button, Kind, Reply, SendLead, Turn

#: typed while filling in a request to be put in touch
CANCEL_WORDS = {"annuler", "stop", "abandonner"}
#: the form's stages, in order; the stages that wait for a typed text
FORM_STAGES = ("consent", "name", "contact", "description", "confirm")
TYPED_STAGES = ("name", "contact", "description")
_FIELD_PROBLEMS = {
    "name_short",
    "name_odd",
    "email",
    "tg",
    "phone",
    "contact_unknown",
    "description_short",
    "description_long",
}
_CHECKS = {"name": check_name, "contact": check_contact, "description": check_description}
#: the letters of an erasure code: no 0/O, 1/I/L that a person would mix up
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
#: the description's limit as the person reads it (« 1 000 »)
DESCRIPTION_LIMIT = f"{DESCRIPTION_MAX:,}".replace(",", "\u202f")

#: the organisations offered with the result where the person is (`start` accepts no other)
Offered = Callable[[State], list[Organisation]]


def erasure_code() -> str:
    """A code given to the person of an on-behalf lead, to erase it without the operator."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _lead_button(name: str, verb: str, **values: str) -> list[Button]:
    return [Button(short(button(name, **values)), Action(Kind.lead, verb))]


class LeadDialogue:
    def __init__(self, parts: Parts, screen: Screen, offered: Offered | None = None) -> None:
        self.parts = parts
        self.screen = screen
        self.offered = offered

    @property
    def consent_version(self) -> str:
        return self.parts.renderer.source_version("consent.j2")

    def _sender(self, session: Session) -> Operator | None:
        """The operator recording this form for someone, if it is one."""
        operator_id = session.fields.get("b")
        return self.parts.partners.operator(int(operator_id)) if operator_id else None

    def consent_version_for(
        self, organisation: Organisation, sender: Operator | None = None
    ) -> str:
        """The version of the consent text as this organisation's consent screen shows it
        (the template, the organisation's name and retention, the operator's organisation
        for a lead on someone's behalf): stored with the lead."""
        text = html_to_text(self.consent_text(organisation, sender))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def consent_text(self, organisation: Organisation, sender: Operator | None = None) -> str:
        """The consent read to the person; `sender`: the operator recording it for them,
        whose organisation the person can turn to for their rights."""
        member = self.parts.partners.get(sender.organisation) if sender else None
        return self.parts.renderer.render(
            "consent.j2",
            organisation=organisation.name,
            retention_days=self.parts.lead_retention_days,
            on_behalf=sender is not None,
            sender=member.name if member else (sender.organisation if sender else ""),
            sender_contact=self.reach(member),
        )

    def reach(self, member: Organisation | None) -> str:
        """How a person reaches an organisation: its address, else its public website."""
        if member is None:
            return ""
        if member.email:
            return member.email
        contact = next((c for c in self.parts.kb.contacts if c.id == member.contact), None)
        return contact.website or "" if contact else ""

    def typing(self, session: Session) -> str | None:
        """The form's stage that waits for a typed text, if any."""
        stage = session.fields.get("s")
        return stage if stage in TYPED_STAGES else None

    def _form_reply(
        self, kind: str, organisation: Organisation, session: Session, **context: object
    ) -> Reply:
        fields = session.fields
        text = self.parts.renderer.render(
            "lead_form.j2",
            kind=kind,
            organisation=organisation.name,
            on_behalf=bool(fields.get("b")),
            person=fields.get("n", ""),
            limit=DESCRIPTION_LIMIT,
            **context,
        )
        rows: list[list[Button]] = []
        if kind in TYPED_STAGES or kind in _FIELD_PROBLEMS:
            rows = [_lead_button("lead_cancel", "cancel")]
        return Reply(text, rows)

    def action(self, state: State, arg: str, operator: Operator | None = None) -> Turn:
        session = state.session
        fields = session.fields
        organisation = self.parts.partners.get(fields.get("o", ""))
        verb, _, target = arg.partition(":")
        if verb == "start":
            return self._start(state, target, operator)
        if verb == "send" and not session.form:
            notice = self.parts.renderer.render(
                "lead_form.j2",
                kind="already_sent",
                organisation="",
                on_behalf=operator is not None,
            )
            return Turn(session, [], False, notice=notice)
        if organisation is None:  # a button of a form that is over, or forged
            return self.parts.stale(state, self.screen)
        stage = fields.get("s")
        cleared = Session(session.answers, session.place, False)
        if verb in ("yes", "no") and target != organisation.id:  # another consent screen's
            return self.parts.stale(state, self.screen)
        if verb == "cancel" or (verb == "no" and stage == "consent"):
            kind = "refused" if verb == "no" else "cancelled"
            reply = self._form_reply(kind, organisation, session)
            return Turn(cleared, [reply, *self.screen(cleared)], True)
        if verb == "yes" and stage == "consent":
            given = datetime.now(UTC).isoformat(timespec="seconds")
            sender = self._sender(session)
            version = self.consent_version_for(organisation, sender)
            new = session.with_form(s="name", t=given, v=version)
            return Turn(new, [self._form_reply("name", organisation, new)], True)
        if verb == "fix" and stage == "confirm":
            new = session.with_form(s="name")
            return Turn(new, [self._form_reply("name", organisation, new)], True)
        if verb == "send" and stage == "confirm":
            return self._send(state, organisation, cleared)
        return self.parts.stale(state, self.screen)

    def _start(self, state: State, target: str, operator: Operator | None) -> Turn:
        session = state.session
        chosen = self.parts.partners.get(target)
        if chosen is None:
            return self._notice(state, "no_partner")
        if not state.finished:
            return self._notice(state, "not_ready", operator is not None)
        if self.offered is not None and chosen not in self.offered(state):
            # a forged button, or the place changed
            return self._notice(state, "not_offered", operator is not None)
        new = Session(session.answers, session.place, False).with_form(o=chosen.id, s="consent")
        if operator is not None:  # consent is asked of the person, recorded by the operator
            new = new.with_form(b=str(operator.telegram_user_id))
            text = self.parts.renderer.render("consent_operator.j2", organisation=chosen.name)
            text += "\n\n" + self.consent_text(chosen, operator)
            rows = [
                _lead_button("consent_yes_on_behalf", f"yes:{chosen.id}", organisation=chosen.name),
                _lead_button("consent_no_on_behalf", f"no:{chosen.id}"),
            ]
            return Turn(new, [Reply(text, rows)], True)
        rows = [
            _lead_button("consent_yes", f"yes:{chosen.id}", organisation=chosen.name),
            _lead_button("consent_no", f"no:{chosen.id}"),
        ]
        return Turn(new, [Reply(self.consent_text(chosen), rows)], True)

    def _notice(self, state: State, kind: str, on_behalf: bool = False) -> Turn:
        text = self.parts.renderer.render(
            "lead_form.j2", kind=kind, organisation="", on_behalf=on_behalf
        )
        return Turn(state.session, [Reply(text), *self.screen(state)], False, notice=text)

    def typed(self, state: State, stage: str, text: str) -> Turn:
        """A typed text while the form waits for the name, the contact or the project."""
        session = state.session
        organisation = self.parts.partners.get(session.fields.get("o", ""))
        if organisation is None:
            cleared = Session(session.answers, session.place, False)
            return Turn(cleared, self.screen(cleared), True)
        checked = _CHECKS[stage](text)
        if checked.value is None:
            problem = "contact_unknown" if checked.problem == "contact" else checked.problem
            length = len(text.strip())
            reply = self._form_reply(problem, organisation, session, length=length)
            return Turn(session, [reply], False)
        following = FORM_STAGES[FORM_STAGES.index(stage) + 1]
        new = session.with_form(**{stage[0]: checked.value, "s": following})
        if following != "confirm":
            return Turn(new, [self._form_reply(following, organisation, new)], True)
        return Turn(new, [self._confirm_reply(new, organisation)], True)

    def _confirm_reply(self, session: Session, organisation: Organisation) -> Reply:
        fields = session.fields
        kind, value = contact_parts(fields["c"])
        place = self.parts.geo.from_key(session.place or "")
        state = self.parts.engine.state(session)
        schemes = ""
        if state.finished:
            recommended = self.parts.engine.result(state).recommended
            schemes = ", ".join(r.scheme.short_name for r in recommended)
        reply = self._form_reply(
            "confirm",
            organisation,
            session,
            name=fields["n"],
            contact=value,
            contact_kind=CONTACT_KINDS.get(kind, kind),
            description=fields["d"],
            territory=f"{place.label}, {place.region.name}" if place else "",
            schemes=schemes,
        )
        reply.buttons = [
            _lead_button("lead_send", "send"),
            _lead_button("lead_fix", "fix"),
            _lead_button("lead_cancel", "cancel"),
        ]
        return reply

    def _send(self, state: State, organisation: Organisation, cleared: Session) -> Turn:
        fields = state.session.fields
        partners = self.parts.partners
        operator = partners.operator(int(fields["b"])) if fields.get("b") else None
        lead = build_lead(
            state=state,
            result=self.parts.engine.result(state),
            organisation=organisation,
            place=self.parts.geo.from_key(state.session.place or ""),
            name=fields["n"],
            contact=fields["c"],
            description=fields["d"],
            consent_text=html_to_text(self.consent_text(organisation, operator)),
            consent_version=fields.get("v", self.consent_version_for(organisation, operator)),
        )
        lead["consent"]["given_at"] = fields.get("t", lead["consent"]["given_at"])
        code, sender = None, ""
        if operator is not None:
            lead["consent"]["by"] = "operator"
            # the consent read to the person covers another partner near the project
            lead["consent"]["other_partners"] = True
            member = partners.get(operator.organisation)
            sender = member.name if member else operator.organisation
            lead["operator"] = operator_record(operator, sender)
            code = erasure_code()
        effect = SendLead(
            lead,
            organisation.id,
            organisation.channels,
            operator.telegram_user_id if operator else None,
            operator.organisation if operator else None,
            code,
        )
        reply = self._form_reply(
            "sent", organisation, state.session, erasure_code=code or "", sender=sender
        )
        return Turn(cleared, [reply], True, effects=[effect])


def operator_record(operator: Operator, organisation_name: str) -> dict[str, object]:
    """Who qualified a lead for someone, as the partner receives it."""
    return {
        "telegram_user_id": operator.telegram_user_id,
        "name": operator.name,
        "organisation": {"id": operator.organisation, "name": organisation_name},
    }
