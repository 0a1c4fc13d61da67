"""The dialogue, channel-agnostic: a session and an input in, a new session and replies out.

Every channel (console, Telegram) calls this and only draws what comes back, so the
orientation behaves the same everywhere: typed commands, fuzzy answers, stale buttons,
back and restart, help, fiches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from rapidfuzz import fuzz, process

from bot.engine import NO_PLACE, Engine, EngineError, Session, State
from bot.geography import Geography
from bot.lead_store import Lead, LeadStatus
from bot.leads import (
    CONTACT_KINDS,
    build_lead,
    check_contact,
    check_description,
    check_name,
    contact_parts,
)
from bot.partners import Operator, Organisation, Partners
from bot.render import Renderer, html_to_text
from bot.routing import Router, effective_profile
from bot.search import SchemeSearch
from bot.views import Action, Button, Finished, Kind, Reply, SendLead, Turn
from knowledge.loader import KnowledgeBase, normalize
from knowledge.schema import Audience, MoneyTopic, Option, Question, Scheme, SchemeKind

MAX_INPUT = 500  # characters of a typed message that are looked at

COMMANDS: dict[str, Kind] = {
    "retour": Kind.back,
    "precedent": Kind.back,
    "revenir": Kind.back,
    "recommencer": Kind.restart,
    "restart": Kind.restart,
    "reset": Kind.restart,
    "aide": Kind.help,
    "help": Kind.help,
    "fiches": Kind.schemes,
    "schemas": Kind.schemes,
    "liste": Kind.schemes,
    "contacts": Kind.contacts,
    "contact": Kind.contacts,
    "financements": Kind.funders,
    "financement": Kind.funders,
    "financeurs": Kind.funders,
    "territoire": Kind.change_place,
    "lieu": Kind.change_place,
    "confidentialite": Kind.privacy,
    "donnees": Kind.privacy,
    "vie privee": Kind.privacy,
    "start": Kind.current,
    "oublier": Kind.forget,
    "effacer": Kind.forget,
    "mesdonnees": Kind.my_data,
    "mes donnees": Kind.my_data,
    "leads": Kind.leads,
    "demandes": Kind.leads,
    "stats": Kind.stats,
    "statistiques": Kind.stats,
}
#: typed while filling in a request to be put in touch
CANCEL_WORDS = {"annuler", "stop", "abandonner"}
#: the form's stages, in order, and what each one expects
FORM_STAGES = ("consent", "name", "contact", "description", "confirm")

#: the command menu a channel registers (Telegram's setMyCommands): name, description
BOT_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "Commencer ou reprendre l'orientation"),
    ("aide", "Comment utiliser Boussole"),
    ("fiche", "Ouvrir une fiche, ex. /fiche scic"),
    ("schemas", "La liste des fiches"),
    ("contacts", "Qui peut vous accompagner près de chez vous"),
    ("financements", "Les financements adaptés à votre projet"),
    ("lieu", "Changer le lieu du projet"),
    ("retour", "Revenir à la question précédente"),
    ("recommencer", "Repartir de zéro"),
    ("mesdonnees", "Tout ce que Boussole garde sur vous"),
    ("confidentialite", "Ce que Boussole garde, et combien de temps"),
    ("oublier", "Effacer tout ce que Boussole garde sur vous"),
)
#: actions whose new screen may replace the message that carried the button
_EDITING = {Kind.answer, Kind.back, Kind.place}

AUDIENCE_LABELS = {
    Audience.porteur: "porteurs de projet et collectifs citoyens",
    Audience.collectivite: "collectivités",
    Audience.association: "associations",
    Audience.entreprise: "entreprises",
    Audience.reseau: "réseaux d'accompagnement",
}
KIND_LABELS = {
    SchemeKind.statut: "Statuts juridiques",
    SchemeKind.dispositif: "Dispositifs",
    SchemeKind.contrat: "Contrats et montages",
    SchemeKind.partenariat: "Partenariats",
    SchemeKind.agrement: "Agréments",
    SchemeKind.demarche: "Démarches territoriales",
}
MONEY_LABELS = {
    MoneyTopic.capital: "Capital",
    MoneyTopic.profits: "Bénéfices",
    MoneyTopic.taxes: "Fiscalité",
    MoneyTopic.public_funding: "Financements publics",
}


DECLINE_REASONS = {
    "territoire": "Hors de notre territoire",
    "champ": "Hors de notre champ d'action",
    "capacite": "Pas de disponibilité pour le moment",
    "autre": "Autre raison",
}
PARTNER_STATUS = {
    "taken": "✋ pris en charge",
    "declined": "↪️ pas pour nous",
    "closed": "✔️ clôturé",
}
LEAD_STATUS_LABELS = {
    "new": "en cours d'envoi",
    "delivered": "remise, en attente de réponse",
    "taken": "prise en charge",
    "declined": "déclinée",
    "closed": "clôturée",
}
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


def _short(label: str, limit: int = 48) -> str:
    """A button label that fits on a phone, cut at a word with an ellipsis."""
    if len(label) <= limit:
        return label
    return label[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,(") + "…"


@dataclass
class OptionMatch:
    option: Option | None
    suggestions: list[Option]


class Conversation:
    def __init__(
        self,
        kb: KnowledgeBase,
        renderer: Renderer | None = None,
        geo: Geography | None = None,
        retention_days: int = 180,
        partners: Partners | None = None,
        lead_retention_days: int = 365,
    ) -> None:
        self.kb = kb
        self.retention_days = retention_days
        self.partners = partners or Partners()
        self.lead_retention_days = lead_retention_days
        self.geo = geo or Geography()
        self.router = Router(kb, self.geo)
        self.engine = Engine(kb)
        self.search = SchemeSearch(kb)
        self.renderer = renderer or Renderer()
        self._option_terms: dict[str, tuple[list[str], list[Option]]] = {}
        for q in kb.tree.questions:
            terms: list[str] = []
            owners: list[Option] = []
            for opt in q.options:
                for term in {opt.value.replace("_", " "), opt.label, *opt.aliases}:
                    terms.append(normalize(term))
                    owners.append(opt)
            self._option_terms[q.id] = (terms, owners)

    # ------------------------------------------------------------------ entry points

    def welcome(self, session: Session, payload: str = "") -> Turn:
        """/start: greet, honour a deep link, resume a conversation in progress."""
        replies = [Reply(self.renderer.render("welcome.j2", retention_days=self.retention_days))]
        payload = normalize(payload).replace(" ", "_")
        if payload.startswith("fiche_"):
            found = self.search.search(payload.removeprefix("fiche_").replace("_", " "))
            if found.found is not None:
                return Turn(session, [*replies, *self.fiche(found.found, session)], False)
        if payload:
            try:
                fresh = self.engine.preset(self.engine.start.fact, payload)
            except EngineError:
                fresh = None
            if fresh is not None:
                return Turn(fresh, [*replies, *self.screen(fresh)], True)
        state = self.engine.state(session)
        if state.dropped:
            notice = self.renderer.render("notice.j2", kind="dropped")
            return Turn(state.session, [*replies, Reply(notice), *self.screen(state)], True)
        if state.session.step:
            notice = self.renderer.render("notice.j2", kind="resumed", count=state.session.step)
            return Turn(state.session, [*replies, Reply(notice), *self.screen(state)], False)
        return Turn(state.session, [*replies, *self.screen(state)], False)

    def handle_action(
        self, session: Session, action: Action | None, operator: Operator | None = None
    ) -> Turn:
        """A button press; `None` is a button that could not be read (forged or outdated).
        `operator`: the person pressing is an operator of a partner organisation, who
        qualifies a lead on behalf of someone they met."""
        state = self.engine.state(session)
        if action is None:
            notice = self.renderer.render("notice.j2", kind="stale")
            return Turn(state.session, [Reply(notice), *self.screen(state)], False, notice=notice)
        if action.kind is Kind.lead:
            turn = self._lead_action(state, action.arg, operator)
        else:
            turn = self._counted(state, self._action(state, action))
        if action.kind in _EDITING and turn.changed:
            return replace(turn, edit=True)
        return turn

    def _action(self, state: State, action: Action) -> Turn:
        if action.step is not None and action.step != state.session.step:
            return self._stale(state, action)
        if action.kind is Kind.answer:
            try:
                new = self.engine.answer(state.session, action.question, action.arg)
            except EngineError:
                return self._stale(state, action)
            return Turn(new, self.screen(new), True)
        if action.kind is Kind.back:
            return self._back(state)
        if action.kind is Kind.restart:
            return self._restart()
        if action.kind is Kind.help:
            return Turn(state.session, self._help(state, action.question), False)
        if action.kind is Kind.fiche:
            scheme = self.kb.schemes.get(action.arg)
            if scheme is None:
                notice = self.renderer.render("notice.j2", kind="unknown_scheme")
                return Turn(state.session, [Reply(notice), *self.screen(state)], False)
            return Turn(state.session, self.fiche(scheme, state.session), False)
        if action.kind is Kind.schemes:
            return Turn(state.session, [self.schemes_list(state.session)], False)
        if action.kind is Kind.place:
            return self.set_place(state, action.arg)
        if action.kind is Kind.change_place:
            new = Session(state.session.answers, None, True)
            return Turn(new, [self.place_prompt()], True)
        if action.kind in (Kind.contacts, Kind.funders):
            if state.session.place is None or state.session.place == NO_PLACE:
                new = Session(state.session.answers, None, True)
                return Turn(new, [self.place_prompt()], True)
            only = "funders" if action.kind is Kind.funders else None
            return Turn(state.session, [self.routing_reply(state, only)], False)
        if action.kind is Kind.privacy:
            text = self.renderer.render("privacy.j2", retention_days=self.retention_days)
            return Turn(state.session, [Reply(text, [[self._resume_button(state)]])], False)
        if action.kind is Kind.forget:
            return self._forget(state, action.arg)
        return Turn(state.session, self.screen(state), False)

    @staticmethod
    def command_of(text: str) -> Kind | None:
        """The command a typed text is (`/mesdonnees`, `retour`…), if it is one."""
        raw = (text or "").strip()[:MAX_INPUT]
        command = raw[1:].partition(" ")[0].partition("@")[0] if raw.startswith("/") else raw
        return COMMANDS.get(normalize(command))

    def handle_text(self, session: Session, text: str) -> Turn:
        state = self.engine.state(session)
        raw = (text or "").strip()[:MAX_INPUT]
        norm = normalize(raw)
        if raw.startswith("/"):  # a command, maybe addressed as /fiche@BoussoleBot
            command, _, args = raw[1:].partition(" ")
            norm = normalize(f"{command.partition('@')[0]} {args}")
        first, _, rest = norm.partition(" ")
        stage = state.session.fields.get("s")
        if stage in ("name", "contact", "description") and norm not in COMMANDS:
            if norm in CANCEL_WORDS:
                return self._lead_action(state, "cancel")
            return self._form_input(state, stage, raw)
        if norm in CANCEL_WORDS and state.session.form:
            return self._lead_action(state, "cancel")
        if not norm:
            if raw in ("?", "/?"):
                return Turn(state.session, self._help(state), False)
            return self._not_understood(state, raw, [], empty=not raw)
        if norm in COMMANDS:
            return self.handle_action(state.session, Action(COMMANDS[norm]))
        if first == "fiche" and rest:
            return self.lookup(state.session, rest)
        if first == "fiche" or norm in ("fiche", "fiches"):
            return Turn(state.session, [self.schemes_list(state.session)], False)
        if state.session.asking_place or (state.finished and state.session.place is None):
            return self.typed_place(state, raw)
        if state.question is not None:
            match = self.match_option(state.question, raw)
            if match.option is not None:
                new = self.engine.answer(state.session, state.question.id, match.option.value)
                return self._counted(state, Turn(new, self.screen(new), True))
            return self._not_understood(state, raw, match.suggestions)
        # the orientation is over: a typed word is most likely a scheme name
        return self.lookup(state.session, raw)

    def lookup(self, session: Session, query: str) -> Turn:
        result = self.search.search(query)
        if result.found is not None:
            return Turn(session, self.fiche(result.found, session), False)
        text = self.renderer.render("search.j2", result=result)
        buttons = [[Button(s.name, Action(Kind.fiche, s.id))] for s in result.suggestions]
        buttons.append([Button("📚 Toutes les fiches", Action(Kind.schemes))])
        return Turn(session, [Reply(text, buttons)], False)

    def _counted(self, before: State, turn: Turn) -> Turn:
        """An answer that completes the orientation is counted (anonymously)."""
        if before.finished or not turn.changed:
            return turn
        after = self.engine.state(turn.session)
        if not after.finished:
            return turn
        result = self.engine.result(after)
        schemes = [rec.scheme.id for rec in result.recommended]
        finished = Finished(effective_profile(after.facts), schemes, result.unmet)
        return replace(turn, effects=[*turn.effects, finished])

    # ------------------------------------------------------------------ being put in touch

    @property
    def consent_version(self) -> str:
        return self.renderer.source_version("consent.j2")

    def consent_text(self, organisation: Organisation) -> str:
        return self.renderer.render(
            "consent.j2", organisation=organisation.name, retention_days=self.lead_retention_days
        )

    def _form_reply(self, kind: str, organisation: Organisation, **context: object) -> Reply:
        text = self.renderer.render(
            "lead_form.j2", kind=kind, organisation=organisation.name, **context
        )
        rows: list[list[Button]] = []
        if kind in ("name", "contact", "description") or kind in _FIELD_PROBLEMS:
            rows = [[Button("Annuler la demande", Action(Kind.lead, "cancel"))]]
        return Reply(text, rows)

    def _lead_action(self, state: State, arg: str, operator: Operator | None = None) -> Turn:
        session = state.session
        fields = session.fields
        organisation = self.partners.get(fields.get("o", ""))
        verb, _, target = arg.partition(":")
        if verb == "start":
            chosen = self.partners.get(target)
            if chosen is None:
                return self._lead_notice(state, "no_partner")
            if not state.finished:
                return self._lead_notice(state, "not_ready")
            new = Session(session.answers, session.place, False).with_form(o=chosen.id, s="consent")
            if operator is not None:  # consent is asked of the person, recorded by the operator
                new = new.with_form(b=str(operator.telegram_user_id))
                text = self.renderer.render("consent_operator.j2", organisation=chosen.name)
                text += "\n\n" + self.consent_text(chosen)
                rows = [
                    [Button("✅ La personne accepte", Action(Kind.lead, "yes"))],
                    [Button("Elle refuse", Action(Kind.lead, "no"))],
                ]
                return Turn(new, [Reply(text, rows)], True)
            rows = [
                [Button("✅ J'accepte", Action(Kind.lead, "yes"))],
                [Button("Non merci", Action(Kind.lead, "no"))],
            ]
            return Turn(new, [Reply(self.consent_text(chosen), rows)], True)
        if verb == "send" and not session.form:
            notice = self.renderer.render("lead_form.j2", kind="already_sent", organisation="")
            return Turn(session, [], False, notice=notice)
        if organisation is None:  # a button of a form that is over, or forged
            return self._stale(state, Action(Kind.lead, arg))
        stage = fields.get("s")
        cleared = Session(session.answers, session.place, False)
        if verb == "cancel" or (verb == "no" and stage == "consent"):
            kind = "refused" if verb == "no" else "cancelled"
            reply = self._form_reply(kind, organisation)
            return Turn(cleared, [reply, *self.screen(cleared)], True)
        if verb == "yes" and stage == "consent":
            given = datetime.now(UTC).isoformat(timespec="seconds")
            new = session.with_form(s="name", t=given, v=self.consent_version)
            return Turn(new, [self._form_reply("name", organisation)], True)
        if verb == "fix" and stage == "confirm":
            new = session.with_form(s="name")
            return Turn(new, [self._form_reply("name", organisation)], True)
        if verb == "send" and stage == "confirm":
            return self._send(state, organisation, cleared)
        return self._stale(state, Action(Kind.lead, arg))

    def _lead_notice(self, state: State, kind: str) -> Turn:
        text = self.renderer.render("lead_form.j2", kind=kind, organisation="")
        return Turn(state.session, [Reply(text), *self.screen(state)], False, notice=text)

    def _form_input(self, state: State, stage: str, text: str) -> Turn:
        session = state.session
        organisation = self.partners.get(session.fields.get("o", ""))
        if organisation is None:
            cleared = Session(session.answers, session.place, False)
            return Turn(cleared, self.screen(cleared), True)
        check = {"name": check_name, "contact": check_contact, "description": check_description}
        checked = check[stage](text)
        if checked.value is None:
            problem = "contact_unknown" if checked.problem == "contact" else checked.problem
            return Turn(session, [self._form_reply(problem, organisation)], False)
        following = FORM_STAGES[FORM_STAGES.index(stage) + 1]
        new = session.with_form(**{stage[0]: checked.value, "s": following})
        if following != "confirm":
            return Turn(new, [self._form_reply(following, organisation)], True)
        return Turn(new, [self._confirm_reply(new, organisation)], True)

    def _confirm_reply(self, session: Session, organisation: Organisation) -> Reply:
        fields = session.fields
        kind, value = contact_parts(fields["c"])
        place = self.geo.from_key(session.place or "")
        state = self.engine.state(session)
        schemes = ""
        if state.finished:
            schemes = ", ".join(r.scheme.short_name for r in self.engine.result(state).recommended)
        reply = self._form_reply(
            "confirm",
            organisation,
            name=fields["n"],
            contact=value,
            contact_kind=CONTACT_KINDS.get(kind, kind),
            description=fields["d"],
            territory=f"{place.label}, {place.region.name}" if place else "",
            schemes=schemes,
        )
        reply.buttons = [
            [Button("📨 Envoyer", Action(Kind.lead, "send"))],
            [Button("✏️ Corriger", Action(Kind.lead, "fix"))],
            [Button("Annuler la demande", Action(Kind.lead, "cancel"))],
        ]
        return reply

    def _send(self, state: State, organisation: Organisation, cleared: Session) -> Turn:
        fields = state.session.fields
        result = self.engine.result(state)
        lead = build_lead(
            state=state,
            result=result,
            organisation=organisation,
            place=self.geo.from_key(state.session.place or ""),
            name=fields["n"],
            contact=fields["c"],
            description=fields["d"],
            consent_text=html_to_text(self.consent_text(organisation)),
            consent_version=fields.get("v", self.consent_version),
        )
        lead["consent"]["given_at"] = fields.get("t", lead["consent"]["given_at"])
        operator = self.partners.operator(int(fields["b"])) if fields.get("b") else None
        if operator is not None:
            lead["consent"]["by"] = "operator"
            member = self.partners.get(operator.organisation)
            lead["operator"] = {
                "telegram_user_id": operator.telegram_user_id,
                "name": operator.name,
                "organisation": {
                    "id": operator.organisation,
                    "name": member.name if member else operator.organisation,
                },
            }
        effect = SendLead(
            lead,
            organisation.id,
            organisation.channels,
            operator.telegram_user_id if operator else None,
        )
        reply = self._form_reply("sent", organisation)
        return Turn(cleared, [reply], True, effects=[effect])

    def my_data(self, session: Session, leads: Sequence[Lead]) -> Turn:
        """Everything stored about the person: the conversation and their leads."""
        state = self.engine.state(session)
        place = self.geo.from_key(session.place or "")
        fields = session.fields
        form = ", ".join(
            f"{label} : {fields[key]}"
            for key, label in (("n", "nom"), ("c", "contact"), ("d", "projet"))
            if key in fields
        )
        rows = []
        for lead in leads:
            organisation = self.partners.get(lead.organisation)
            contact = lead.data.get("person", {}).get("contact", {})
            rows.append(
                {
                    "created": lead.created_at.strftime("%d/%m/%Y"),
                    "organisation": organisation.name if organisation else lead.organisation,
                    "status": LEAD_STATUS_LABELS.get(lead.status.value, lead.status.value),
                    "name": lead.data.get("person", {}).get("name", ""),
                    "contact": contact.get("value", ""),
                    "description": lead.data.get("project", {}).get("description", "")[:200],
                }
            )
        text = self.renderer.render(
            "my_data.j2",
            answers=[{"question": g.question.text, "answer": g.option.label} for g in state.given],
            place=f"{place.label}, {place.region.name}" if place else "",
            form=form,
            leads=rows,
        )
        return Turn(session, [Reply(text, [[self._resume_button(state)]])], False)

    # ------------------------------------------------------------------ leads, afterwards

    def partner_lead(self, lead: Lead, reminder: bool = False) -> Reply:
        """A lead as the partner organisation's Telegram group sees it, with its buttons."""
        kind, _ = contact_parts(
            f"{lead.data.get('person', {}).get('contact', {}).get('kind', '')}:"
        )
        status = (
            ""
            if lead.status in (LeadStatus.new, LeadStatus.delivered)
            else (PARTNER_STATUS.get(lead.status.value, lead.status.value))
        )
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
        def verb(label: str, arg: str) -> Button:
            return Button(label, Action(Kind.partner, arg, lead.id))

        if choosing_reason:
            rows = [[verb(label, f"reason:{code}")] for code, label in DECLINE_REASONS.items()]
            return [*rows, [verb("← Retour", "back")]]
        if lead.status in (LeadStatus.new, LeadStatus.delivered):
            return [
                [verb("✋ Je prends en charge", "take")],
                [verb("Pas pour nous", "decline")],
            ]
        if lead.status is LeadStatus.taken:
            return [[verb("✔️ Clôturé", "close")], [verb("Pas pour nous", "decline")]]
        return []

    def lead_notice(self, lead: Lead, payload: dict[str, object]) -> Reply:
        """What the person is told when their lead moves on."""
        event = str(payload.get("event", ""))
        organisation = self.partners.get(lead.organisation)
        reason = DECLINE_REASONS.get(lead.decline_reason or "", "") if event == "declined" else ""
        text = self.renderer.render(
            "notify.j2",
            kind=event,
            organisation=organisation.name if organisation else lead.organisation,
            reason=reason.lower(),
        )
        rows: list[list[Button]] = []
        if event == "declined":
            rows = [[Button("📍 Voir d'autres contacts", Action(Kind.contacts))]]
        return Reply(text, rows)

    def followup_question(self, lead: Lead) -> Reply:
        organisation = self.partners.get(lead.organisation)
        text = self.renderer.render(
            "notify.j2",
            kind="followup",
            organisation=organisation.name if organisation else lead.organisation,
            date=lead.created_at.strftime("%d/%m/%Y"),
        )
        rows = [
            [Button("Oui, j'ai été contacté", Action(Kind.followup, "yes", lead.id))],
            [Button("Non, pas encore", Action(Kind.followup, "no", lead.id))],
        ]
        return Reply(text, rows)

    def followup_thanks(self, answer: str) -> Reply:
        kind = "followup_yes" if answer == "yes" else "followup_no"
        return Reply(self.renderer.render("notify.j2", kind=kind, organisation=""))

    def erased_notice(self, lead_id: str) -> Reply:
        return Reply(self.renderer.render("partner.j2", kind="erased", lead_id=lead_id))

    def partner_notice(self, kind: str) -> str:
        return self.renderer.render("partner.j2", kind=kind, lead_id="")

    # ------------------------------------------------------------------ other input

    def unsupported(self, session: Session) -> Turn:
        """A sticker, photo, voice message, file or location."""
        text = self.renderer.render("other.j2", kind="unsupported")
        return Turn(session, [Reply(text), *self.screen(session)], False)

    def edited(self, session: Session) -> Turn:
        return Turn(session, [Reply(self.renderer.render("other.j2", kind="edited"))], False)

    def group_invite(self, private_link: str) -> Reply:
        """In a group the bot only invites to a private chat, where answers stay private."""
        text = self.renderer.render("other.j2", kind="group")
        return Reply(text, [[Button("💬 Ouvrir la conversation privée", url=private_link)]])

    def group_notice(self) -> str:
        """The short answer to a button pressed in a group (the bot draws none there)."""
        return self.renderer.render("other.j2", kind="group_button")

    def failure(self, session: Session) -> Turn:
        """Something broke while handling a message: say so, show where the person is."""
        text = self.renderer.render("other.j2", kind="error")
        return Turn(session, [Reply(text), *self.screen(session)], False)

    def busy(self, session: Session) -> Turn:
        """The conversation kept moving under us (another worker): show the stored state."""
        text = self.renderer.render("other.j2", kind="busy")
        return Turn(session, [Reply(text), *self.screen(session)], False)

    def _forget(self, state: State, arg: str) -> Turn:
        if arg == "ok":
            return Turn(Session(), [Reply(self._forget_text("done"))], True, erase=True)
        if arg == "no":
            kept = Reply(self._forget_text("kept"))
            return Turn(state.session, [kept, *self.screen(state)], False)
        rows = [
            [Button("🗑 Oui, tout effacer", Action(Kind.forget, "ok"))],
            [Button("Non, garder mes réponses", Action(Kind.forget, "no"))],
        ]
        return Turn(state.session, [Reply(self._forget_text("ask"), rows)], False)

    def _forget_text(self, kind: str) -> str:
        return self.renderer.render("forget.j2", kind=kind)

    def _resume_button(self, state: State) -> Button:
        if not state.session.step:
            return Button("🧭 Commencer l'orientation", Action(Kind.current))
        label = "↩️ Voir mon résultat" if state.finished else "↩️ Reprendre"
        return Button(label, Action(Kind.current))

    # ------------------------------------------------------------------ views

    def screen(self, session_or_state: Session | State) -> list[Reply]:
        """What shows where the person is: a question, or the result and what follows."""
        state = (
            session_or_state
            if isinstance(session_or_state, State)
            else self.engine.state(session_or_state)
        )
        if state.session.asking_place:
            return [self.place_prompt()]
        if state.question is not None:
            return [self.question_reply(state)]
        follow = self.place_prompt() if state.session.place is None else self.routing_reply(state)
        return [self.result_reply(state), follow]

    # ------------------------------------------------------------------ territory

    def place_prompt(self, text: str | None = None, status: str = "ask") -> Reply:
        resolution = self.geo.resolve(text) if text is not None else None
        body = self.renderer.render(
            "place.j2",
            status=status,
            text=(text or "")[:80],
            resolution=resolution,
            departements=self.geo.departement_list() if status == "not_found" else [],
        )
        rows: list[list[Button]] = []
        if resolution is not None and status == "ambiguous":
            rows = [[Button(c.label, Action(Kind.place, c.key))] for c in resolution.candidates]
        rows.append([Button("Passer cette étape", Action(Kind.place, NO_PLACE))])
        return Reply(body, rows)

    def set_place(self, state: State, key: str) -> Turn:
        if key != NO_PLACE and self.geo.from_key(key) is None:
            notice = self.renderer.render("notice.j2", kind="stale")
            return Turn(state.session, [Reply(notice), *self.screen(state)], False)
        new = Session(state.session.answers, key, False)
        new_state = self.engine.state(new)
        replies: list[Reply] = []
        if key != NO_PLACE or new_state.finished:
            replies.append(self.routing_reply(new_state))
        if new_state.question is not None:  # asked mid-orientation: carry on where it was
            replies.append(self.question_reply(new_state))
        return Turn(new, replies, True)

    def typed_place(self, state: State, text: str) -> Turn:
        resolution = self.geo.resolve(text)
        best = resolution.best
        if best is not None:
            return self.set_place(state, best.key)
        return Turn(state.session, [self.place_prompt(text, resolution.status)], False)

    def routing_reply(self, state: State, only: str | None = None) -> Reply:
        place = self.geo.from_key(state.session.place or "")
        recommended: list[str] = []
        if state.finished:
            recommended = [r.scheme.id for r in self.engine.result(state).recommended]
        routing = self.router.route(
            place,
            effective_profile(state.facts),
            state.facts.get("stage"),
            recommended,
        )
        text = self.renderer.render("routing.j2", routing=routing, only=only, place=place)
        rows = [
            [Button(_short(f"🌐 {m.name}"), url=m.website)]
            for m in routing.contacts
            if m.website and only != "funders"
        ][:6]
        if state.finished and only != "funders":
            partners = [
                organisation
                for m in routing.contacts
                if (organisation := self.partners.for_contact(m.item_id)) is not None
            ]
            rows[:0] = [
                [
                    Button(
                        _short(f"🤝 Être mis en relation : {o.name}"),
                        Action(Kind.lead, f"start:{o.id}"),
                    )
                ]
                for o in partners[:3]
            ]
        rows.append([Button("📍 Changer de lieu", Action(Kind.change_place))])
        return Reply(text, rows)

    def question_reply(self, state: State, hint: str | None = None) -> Reply:
        question = state.question
        assert question is not None
        step = state.session.step
        done = max(state.number - 1, 0)
        width = 8
        filled = round(width * done / max(state.total, 1))
        left = state.total - done
        remaining_text = (
            "dernière question" if left <= 1 else f"encore {left - 1} au plus après celle-ci"
        )
        text = self.renderer.render(
            "question.j2",
            state=state,
            question=question,
            progress="▰" * filled + "▱" * (width - filled),
            remaining_text=remaining_text,
            hint=hint,
        )
        rows = [
            [Button(opt.label, Action(Kind.answer, opt.value, question.id, step))]
            for opt in question.options
        ]
        controls = [Button("❓ Aide", Action(Kind.help, "", question.id, step))]
        if step:
            controls.append(Button("← Retour", Action(Kind.back, step=step)))
            controls.append(Button("🔄 Recommencer", Action(Kind.restart, step=step)))
        rows.append(controls)
        return Reply(text, rows)

    def result_reply(self, state: State) -> Reply:
        result = self.engine.result(state)
        text = self.renderer.render("result.j2", result=result)
        step = state.session.step
        rows = [
            [Button(f"📄 {rec.scheme.short_name}", Action(Kind.fiche, rec.scheme.id))]
            for rec in result.recommended
        ]
        rows.extend(
            [Button(f"📄 {alt.scheme.short_name}", Action(Kind.fiche, alt.scheme.id))]
            for alt in result.alternatives
        )
        rows.append(
            [
                Button("← Retour", Action(Kind.back, step=step)),
                Button("🔄 Recommencer", Action(Kind.restart, step=step)),
            ]
        )
        return Reply(text, rows)

    def fiche(self, scheme: Scheme, session: Session) -> list[Reply]:
        keys = list(scheme.sources)

        def refs(sources: Sequence[str]) -> str:
            nums = [str(keys.index(k) + 1) for k in sources if k in keys]
            return f"[{', '.join(nums)}]" if nums else ""

        text = self.renderer.render(
            "scheme.j2",
            s=scheme,
            refs=refs,
            audiences=", ".join(AUDIENCE_LABELS[a] for a in scheme.for_whom),
            money_topics=MONEY_LABELS,
        )
        return [Reply(text, [[self._resume_button(self.engine.state(session))]])]

    def schemes_list(self, session: Session) -> Reply:
        groups = []
        for kind, label in KIND_LABELS.items():
            items = sorted(
                (s for s in self.kb.schemes.values() if s.kind is kind), key=lambda s: s.name
            )
            if items:
                groups.append((label, items))
        text = self.renderer.render("schemes_list.j2", schemes=self.kb.schemes, groups=groups)
        rows = [
            [Button(s.short_name, Action(Kind.fiche, s.id))] for _, items in groups for s in items
        ]
        rows.append([Button("↩️ Reprendre", Action(Kind.current))])
        return Reply(text, rows)

    # ------------------------------------------------------------------ matching

    def match_option(self, question: Question, text: str) -> OptionMatch:
        norm = normalize(text)
        if norm.isdigit():
            index = int(norm) - 1
            if 0 <= index < len(question.options):
                return OptionMatch(question.options[index], [])
        terms, owners = self._option_terms[question.id]
        for term, opt in zip(terms, owners, strict=True):
            if term == norm:
                return OptionMatch(opt, [])
        if not norm:
            return OptionMatch(None, [])
        best: dict[str, float] = {}
        for _t, score, idx in process.extract(
            norm, terms, scorer=fuzz.WRatio, limit=20, score_cutoff=65
        ):
            value = owners[idx].value
            best[value] = max(best.get(value, 0.0), score)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        if not ranked:
            return OptionMatch(None, [])
        top, score = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if score >= 85 and score - second >= 8:
            return OptionMatch(question.option(top), [])
        return OptionMatch(None, [o for v, _ in ranked[:3] if (o := question.option(v))])

    # ------------------------------------------------------------------ helpers

    def _help(self, state: State, question_id: str = "") -> list[Reply]:
        """The ❓ button explains its question; the `aide` command also says how Boussole works."""
        replies = [] if question_id else [Reply(self.renderer.render("aide.j2"))]
        if state.question is not None:
            replies.append(Reply(self.renderer.render("help.j2", question=state.question)))
        return [*replies, *self.screen(state)]

    def _back(self, state: State) -> Turn:
        if state.session.asking_place or (state.finished and state.session.place is not None):
            # after the result, back asks the territory again; mid-orientation it cancels asking
            place = None if state.finished else state.session.place
            new = Session(state.session.answers, place, False)
            return Turn(new, self.screen(new), True)
        if not state.session.step:
            notice = self.renderer.render("notice.j2", kind="first")
            return Turn(state.session, [Reply(notice), *self.screen(state)], False)
        new = self.engine.back(state.session)
        return Turn(new, self.screen(new), True)

    def _restart(self) -> Turn:
        new = self.engine.restart()
        notice = self.renderer.render("notice.j2", kind="restarted")
        return Turn(new, [Reply(notice), *self.screen(new)], True)

    def _stale(self, state: State, action: Action) -> Turn:
        # a double click on the answer just recorded is not an error: nothing to say
        step = action.step
        if (
            action.kind is Kind.answer
            and step is not None
            and step < state.session.step
            and state.session.answers[step] == (action.question, action.arg)
        ):
            return Turn(state.session, [], False, notice="Réponse déjà prise en compte.")
        notice = self.renderer.render("notice.j2", kind="stale")
        return Turn(state.session, [Reply(notice), *self.screen(state)], False, notice=notice)

    def _not_understood(
        self, state: State, text: str, suggestions: list[Option], empty: bool = False
    ) -> Turn:
        body = self.renderer.render(
            "not_understood.j2", text=text[:80], suggestions=suggestions, empty=empty
        )
        if state.question is None:
            return Turn(state.session, [Reply(body), *self.screen(state)], False)
        if suggestions:
            step = state.session.step
            rows = [
                [Button(o.label, Action(Kind.answer, o.value, state.question.id, step))]
                for o in suggestions
            ]
            return Turn(state.session, [Reply(body, rows)], False)
        return Turn(state.session, [Reply(body), *self.screen(state)], False)
