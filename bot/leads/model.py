"""Being put in touch: checking what a person types, and the lead a partner receives.

Pure functions, no I/O: the dialogue (`bot.dialogue.router`) asks, this module checks and
assembles; the storage and the delivery are elsewhere.

:class:`PartnerLead` is the one definition of a lead: the webhook's JSON is its dump, the
email (bot/leads/templates/lead_email.txt.j2) is rendered from it, and the field table of
docs/webhook.md is generated from it (:func:`fields_table`, `python -m bot docs`).
"""

from __future__ import annotations

import re
import types
import typing
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

from bot.leads.partners import Organisation
from bot.orientation.engine import Result, State
from bot.screens import labels
from bot.territory.geography import Candidate
from bot.territory.routing import effective_profile

NAME_MAX = 80
DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 1000
TELEGRAM_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{4,31}$")
URL = re.compile(r"https?://|www\.", re.I)


@dataclass(frozen=True)
class Checked:
    value: str | None  # the cleaned value, None when refused
    problem: str = ""  # why it was refused: a key of the lead_form.j2 template


def check_name(text: str) -> Checked:
    name = " ".join(text.split())
    if len(name) < 2 or not any(c.isalpha() for c in name):
        return Checked(None, "name_short")
    if len(name) > NAME_MAX or URL.search(name) or "@" in name:
        return Checked(None, "name_odd")
    return Checked(name)


def check_email(text: str) -> str | None:
    """The address normalised by email-validator (syntax only: no DNS look-up), or None."""
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def check_phone(text: str) -> str | None:
    """A valid phone number in E.164 (+33612345678), French by default, or None."""
    raw = text.strip()
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        number = phonenumbers.parse(raw, "FR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_contact(text: str) -> Checked:
    """An email address, a phone number (kept in E.164) or a Telegram username."""
    raw = text.strip()
    if "@" in raw and not raw.startswith("@"):
        email = check_email(raw)
        return Checked(f"email:{email}") if email else Checked(None, "email")
    if raw.startswith("@"):
        return Checked(f"telegram:{raw}") if TELEGRAM_USERNAME.match(raw) else Checked(None, "tg")
    digits = re.sub(r"[\s.\-()/]", "", raw)
    if re.fullmatch(r"\+?[\d]{4,}", digits):
        phone = check_phone(digits)
        return Checked(f"phone:{phone}") if phone else Checked(None, "phone")
    return Checked(None, "contact")


def check_description(text: str) -> Checked:
    description = text.strip()
    if len(description) < DESCRIPTION_MIN:
        return Checked(None, "description_short")
    if len(description) > DESCRIPTION_MAX:
        return Checked(None, "description_long")
    return Checked(description)


CONTACT_KINDS = labels.CONTACT_KINDS  # how each way of being reached is named


def show_phone(e164: str) -> str:
    """How a French person reads the number: 06 12 34 56 78 (others: +32 470 12 34 56)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) == "FR":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def contact_parts(stored: str) -> tuple[str, str]:
    """The kind and the value of a checked contact, as shown to the person (a phone
    number in the national format: the lead itself carries E.164, see build_lead)."""
    kind, value = _stored_parts(stored)
    return kind, show_phone(value) if kind == "phone" else value


def _stored_parts(stored: str) -> tuple[str, str]:
    kind, _, value = stored.partition(":")
    return kind, value


# --------------------------------------------------------------------------- the lead

Text = Annotated[str, Field(max_length=4000)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrganisationRef(_Part):
    id: str = Field(description="identifiant de la structure dans Boussole")
    name: str = Field(description="son nom")


class Contact(_Part):
    kind: Literal["email", "phone", "telegram"] = Field(
        description="`email`, `phone` ou `telegram`"
    )
    value: str = Field(
        description="l'adresse (validée), le numéro au format E.164 (`+33612345678`) "
        "ou le nom d'utilisateur Telegram (`@…`)"
    )


class Person(_Part):
    name: str = Field(description="nom donné par la personne")
    contact: Contact = Field(description="moyen de la recontacter")


class Project(_Part):
    description: Text = Field(
        description="le projet en texte libre (peut contenir des retours à la ligne)"
    )


class Territory(_Part):
    label: str = Field(description="libellé lisible, ex. « Lille (59), Hauts-de-France »")
    commune: str | None = Field(description="code INSEE de la commune, ou `null`")
    departement: str | None = Field(description="code du département, ou `null`")
    region: str = Field(description="code INSEE de la région")


class Answer(_Part):
    question: str = Field(description="la question posée par Boussole")
    answer: str = Field(description="la réponse choisie")


class Recommendation(_Part):
    scheme: str = Field(description="identifiant du dispositif (ex. `scic`)")
    name: str = Field(description="son nom")
    reasons: list[str] = Field(description="pourquoi il convient, en phrases courtes")


class Consent(_Part):
    text: Text = Field(description="le texte exact que la personne a accepté")
    version: str = Field(description="version de ce texte (empreinte, change avec lui)")
    given_at: AwareDatetime = Field(description="date et heure de l'accord (ISO 8601)")
    by: Literal["person", "operator"] = Field(
        description="`person` (la personne elle-même) ou `operator` (recueilli par un "
        "opérateur, alors décrit dans `operator`)"
    )

    other_partners: bool = Field(
        default=False,
        description="pour une demande faite pour le compte de quelqu'un : `true` si la personne "
        "a aussi accepté qu'elle soit transmise à un autre partenaire proche",
    )

    @field_serializer("given_at")
    def _iso(self, value: datetime) -> str:
        return value.isoformat(timespec="seconds")


class HandedFrom(_Part):
    id: str = Field(description="la demande transmise d'abord, déclinée ou restée sans réponse")
    root: str = Field(description="la toute première demande de la chaîne")
    organisation: str = Field(description="l'organisation qui l'avait reçue")


class OperatorRef(_Part):
    telegram_user_id: int = Field(description="identifiant Telegram de l'opérateur")
    name: str | None = Field(description="son nom, s'il est connu")
    organisation: OrganisationRef = Field(description="sa structure")


class PartnerLead(_Part):
    """A lead as a partner receives it (webhook JSON, email, its attachment)."""

    id: str = Field(description="UUID stable de la mise en relation : la clé à conserver")
    created_at: AwareDatetime = Field(description="date de création (ISO 8601)")
    status: Literal["new"] = Field(description="toujours `new` à l'envoi")
    organisation: OrganisationRef = Field(description="votre structure")
    person: Person = Field(description="la personne")
    project: Project = Field(description="son projet")
    profile: str | None = Field(
        description="profil : `porteur`, `association`, `collectivite`, `entreprise`…"
    )
    stage: str | None = Field(description="stade du projet, s'il a été demandé")
    territory: Territory | None = Field(description="où se situe le projet, s'il est connu")
    answers: list[Answer] = Field(description="questions posées et réponses données")
    recommended: list[Recommendation] = Field(description="dispositifs proposés")
    unmet: bool = Field(
        description="`true` si aucun dispositif ne convenait (demande non couverte)"
    )
    open_points: list[str] = Field(description="ce que la personne ne savait pas, à préciser")
    consent: Consent = Field(description="l'accord de la personne")
    operator: OperatorRef | None = Field(
        description="l'opérateur qui a recueilli la demande, sinon `null`"
    )
    handed_from: HandedFrom | None = Field(
        default=None,
        description="une demande d'abord transmise à une autre organisation, sinon `null` "
        "(mêmes réponses, même contact)",
    )

    @field_serializer("created_at")
    def _iso(self, value: datetime) -> str:
        return value.isoformat(timespec="seconds")

    def json_data(self) -> dict[str, Any]:
        """The JSON object sent to partners (and stored)."""
        return self.model_dump(mode="json")


def parse_lead(data: dict[str, Any]) -> PartnerLead:
    """A stored or received lead, checked against the model (pydantic.ValidationError)."""
    return PartnerLead.model_validate(data)


def build_lead(
    *,
    state: State,
    result: Result,
    organisation: Organisation,
    place: Candidate | None,
    name: str,
    contact: str,
    description: str,
    consent_text: str,
    consent_version: str,
    by: Literal["person", "operator"] = "person",
    operator: OperatorRef | None = None,
    lead_id: str | None = None,
    moment: datetime | None = None,
) -> dict[str, Any]:
    """Everything a partner needs to act without asking again: a :class:`PartnerLead`,
    as the JSON-able dict that is stored and sent."""
    moment = moment or datetime.now(UTC)
    kind, value = _stored_parts(contact)  # E.164 for a phone number
    if kind == "phone":  # a form filled in before numbers were kept in E.164
        value = check_phone(value) or value
    territory = None
    if place is not None:
        territory = Territory(
            label=f"{place.label}, {place.region.name}" if place.departement else place.region.name,
            commune=place.commune.code if place.commune else None,
            departement=place.departement.code if place.departement else None,
            region=place.region.code,
        )
    lead = PartnerLead(
        id=lead_id or str(uuid.uuid4()),
        created_at=moment,
        status="new",
        organisation=OrganisationRef(id=organisation.id, name=organisation.name),
        person=Person(name=name, contact=Contact(kind=kind, value=value)),
        project=Project(description=description),
        profile=effective_profile(state.facts),
        stage=state.facts.get("stage"),
        territory=territory,
        answers=[Answer(question=g.question.text, answer=g.option.label) for g in state.given],
        recommended=[
            Recommendation(
                scheme=rec.scheme.id,
                name=rec.scheme.name,
                reasons=[reason.text for reason in rec.reasons],
            )
            for rec in result.recommended
        ],
        unmet=result.unmet,
        open_points=list(result.open_points),
        consent=Consent(text=consent_text, version=consent_version, given_at=moment, by=by),
        operator=operator,
    )
    return lead.json_data()


# --------------------------------------------------------------------------- the docs


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(names) + (" \\| null" if type(None) in args else "")
    if origin is list:
        return {"objet": "liste d'objets", "texte": "liste de textes"}[_type_name(args[0])]
    if origin is Literal:
        return "texte"
    if origin is Annotated:
        return _type_name(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "objet"
    return {str: "texte", int: "entier", bool: "booléen", datetime: "date ISO 8601"}.get(
        annotation, "date ISO 8601" if "datetime" in str(annotation).lower() else "texte"
    )


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        rows.append(f"| `{path}` | {_type_name(field.annotation)} | {field.description} |")
        inner = field.annotation
        for arg in (inner, *typing.get_args(inner)):
            for candidate in (arg, *typing.get_args(arg)):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    sub = f"{path}[]." if typing.get_origin(arg) is list else f"{path}."
                    rows += _rows(candidate, sub)
                    break
            else:
                continue
            break
    return rows


def fields_table() -> str:
    """docs/webhook.md's field table, from :class:`PartnerLead` (every field, always sent)."""
    head = ["| Champ | Type | Description |", "| --- | --- | --- |"]
    return "\n".join(head + _rows(PartnerLead, "")) + "\n"


DOC_START, DOC_END = "<!-- lead-fields:", "<!-- /lead-fields -->"


def with_fields_table(text: str) -> str:
    """``text`` (docs/webhook.md) with its generated block replaced by :func:`fields_table`."""
    start = text.index("\n", text.index(DOC_START)) + 1
    return text[:start] + fields_table() + text[text.index(DOC_END) :]
