"""Being put in touch: checking what a person types, and the lead a partner receives.

Pure functions, no I/O: the dialogue (`bot.dialogue.router`) asks, this module checks and
assembles; the storage and the delivery are elsewhere.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.leads.partners import EMAIL, Organisation
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


def check_contact(text: str) -> Checked:
    """An email address, a phone number or a Telegram username, normalised."""
    raw = text.strip()
    if "@" in raw and not raw.startswith("@"):
        email = raw.lower()
        return Checked(f"email:{email}") if EMAIL.match(email) else Checked(None, "email")
    if raw.startswith("@"):
        return Checked(f"telegram:{raw}") if TELEGRAM_USERNAME.match(raw) else Checked(None, "tg")
    digits = re.sub(r"[\s.\-()/]", "", raw)
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    elif digits.startswith("0033"):
        digits = "0" + digits[4:]
    if re.fullmatch(r"0[1-9]\d{8}", digits):
        return Checked("phone:" + " ".join(digits[i : i + 2] for i in range(0, 10, 2)))
    if re.fullmatch(r"\+\d{8,15}", digits):
        return Checked(f"phone:{digits}")
    if re.fullmatch(r"[\d+]{4,}", digits):
        return Checked(None, "phone")
    return Checked(None, "contact")


def check_description(text: str) -> Checked:
    description = text.strip()
    if len(description) < DESCRIPTION_MIN:
        return Checked(None, "description_short")
    if len(description) > DESCRIPTION_MAX:
        return Checked(None, "description_long")
    return Checked(description)


CONTACT_KINDS = labels.CONTACT_KINDS  # how each way of being reached is named


def contact_parts(stored: str) -> tuple[str, str]:
    kind, _, value = stored.partition(":")
    return kind, value


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
    by: str = "person",
    operator: dict[str, Any] | None = None,
    lead_id: str | None = None,
    moment: datetime | None = None,
) -> dict[str, Any]:
    """Everything a partner needs to act without asking again, as JSON."""
    moment = moment or datetime.now(UTC)
    kind, value = contact_parts(contact)
    territory = None
    if place is not None:
        territory = {
            "label": f"{place.label}, {place.region.name}"
            if place.departement
            else place.region.name,
            "commune": place.commune.code if place.commune else None,
            "departement": place.departement.code if place.departement else None,
            "region": place.region.code,
        }
    return {
        "id": lead_id or str(uuid.uuid4()),
        "created_at": moment.isoformat(timespec="seconds"),
        "status": "new",
        "organisation": {"id": organisation.id, "name": organisation.name},
        "person": {"name": name, "contact": {"kind": kind, "value": value}},
        "project": {"description": description},
        "profile": effective_profile(state.facts),
        "stage": state.facts.get("stage"),
        "territory": territory,
        "answers": [{"question": g.question.text, "answer": g.option.label} for g in state.given],
        "recommended": [
            {
                "scheme": rec.scheme.id,
                "name": rec.scheme.name,
                "reasons": [reason.text for reason in rec.reasons],
            }
            for rec in result.recommended
        ],
        "unmet": result.unmet,
        "open_points": list(result.open_points),
        "consent": {
            "text": consent_text,
            "version": consent_version,
            "given_at": moment.isoformat(timespec="seconds"),
            "by": by,
        },
        "operator": operator,
    }
