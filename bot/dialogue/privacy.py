"""What Boussole keeps about a person, showing it (/mesdonnees) and erasing it (/oublier)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.dialogue.parts import Parts, Screen
from bot.leads.store import Lead
from bot.orientation.engine import Session, State
from bot.screens.labels import LEAD_STATUS_LABELS, button
from bot.screens.views import Action, Button, Kind, Reply, Turn

#: the form's fields shown in « mes données », with their names
_FORM_FIELDS = (("n", "nom"), ("c", "contact"), ("d", "projet"))


class PrivacyDialogue:
    def __init__(self, parts: Parts, screen: Screen) -> None:
        self.parts = parts
        self.screen = screen

    def privacy(self, state: State) -> Turn:
        text = self.parts.renderer.render(
            "privacy.j2",
            retention_days=self.parts.retention_days,
            lead_retention_days=self.parts.lead_retention_days,
        )
        return Turn(state.session, [Reply(text, [[self.parts.resume_button(state)]])], False)

    def forget(self, state: State, arg: str) -> Turn:
        """`oublier`: ask for a confirmation, then erase everything (or keep it all)."""
        if arg == "ok":
            return Turn(Session(), [Reply(self._text("done"))], True, erase=True)
        if arg == "no":
            return Turn(state.session, [Reply(self._text("kept")), *self.screen(state)], False)
        rows = [
            [Button(button("forget_yes"), Action(Kind.forget, "ok"))],
            [Button(button("forget_no"), Action(Kind.forget, "no"))],
        ]
        return Turn(state.session, [Reply(self._text("ask"), rows)], False)

    def _text(self, kind: str) -> str:
        return self.parts.renderer.render("forget.j2", kind=kind)

    def my_data(self, session: Session, leads: Sequence[Lead]) -> Turn:
        """Everything stored about the person: the conversation and their leads."""
        state = self.parts.engine.state(session)
        place = self.parts.geo.from_key(session.place or "")
        fields = session.fields
        form = ", ".join(f"{label} : {fields[key]}" for key, label in _FORM_FIELDS if key in fields)
        rows = []
        for lead in leads:
            organisation = self.parts.partners.get(lead.organisation)
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
        text = self.parts.renderer.render(
            "my_data.j2",
            answers=[{"question": g.question.text, "answer": g.option.label} for g in state.given],
            place=f"{place.label}, {place.region.name}" if place else "",
            form=form,
            leads=rows,
        )
        return Turn(session, [Reply(text, [[self.parts.resume_button(state)]])], False)
