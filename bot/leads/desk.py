"""The partner's side of a lead: the buttons under a lead in their Telegram group.

« Je prends en charge », « Pas pour nous » (with a reason) and « Clôturé » move the lead
forward and queue a notice to the person. Only the organisation's own group, or one of
its operators, may press them; a forged, stale or foreign button changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.leads.moves import ChatMoves
from bot.leads.partner_dialogue import PartnerDialogue
from bot.leads.store import JobKind, Lead, LeadStatus, LeadStore
from bot.platform.observe import LEADS
from bot.screens.labels import DECLINE_REASONS
from bot.screens.views import Action, Kind, Reply, telegram_chat

OPEN = {LeadStatus.new, LeadStatus.delivered}
MOVES: dict[str, tuple[LeadStatus, set[LeadStatus]]] = {
    "take": (LeadStatus.taken, OPEN),
    "close": (LeadStatus.closed, {LeadStatus.delivered, LeadStatus.taken}),
    "reason": (LeadStatus.declined, {*OPEN, LeadStatus.taken}),
}


@dataclass
class DeskAnswer:
    notice: str  # a short answer to the button (toast)
    reply: Reply | None = None  # the lead message redrawn with its new status and buttons


class PartnerDesk:
    def __init__(self, leads: LeadStore, dialogue: PartnerDialogue) -> None:
        self.leads = leads
        self.dialogue = dialogue
        self.partners = dialogue.partners
        self.moves = ChatMoves(leads.engine)

    async def _allowed(self, lead: Lead, chat_id: int, user_id: int | None) -> bool:
        organisation = self.partners.get(lead.organisation)
        group = organisation.telegram_chat_id if organisation is not None else None
        if group is not None and group == chat_id:
            return True
        if group is not None and group in await self.moves.chats_moved_to(chat_id):
            return True  # the group became a supergroup: its new id
        operator = self.partners.operator(user_id)
        return operator is not None and operator.organisation == lead.organisation

    async def press(self, action: Action | None, chat_id: int, user_id: int | None) -> DeskAnswer:
        notice = self.dialogue.partner_notice
        if action is None or action.kind is not Kind.partner:
            return DeskAnswer(notice("stale"))
        lead = await self.leads.get(action.question)
        if lead is None:
            return DeskAnswer(notice("unknown"))
        if not await self._allowed(lead, chat_id, user_id):
            return DeskAnswer(notice("forbidden"))
        verb, _, code = action.arg.partition(":")
        if verb == "decline":
            buttons = self.dialogue.partner_buttons(lead, choosing_reason=True)
            redrawn = self.dialogue.partner_lead(lead)
            return DeskAnswer(notice("reason"), Reply(redrawn.text, buttons))
        if verb == "back":
            return DeskAnswer("", self.dialogue.partner_lead(lead))
        if verb not in MOVES or (verb == "reason" and code not in DECLINE_REASONS):
            return DeskAnswer(notice("stale"))
        status, allowed_from = MOVES[verb]
        moved = await self.leads.set_status(lead.id, status, allowed_from, code or None)
        current = await self.leads.get(lead.id)
        assert current is not None
        if not moved:  # a double click, or another member of the group was faster
            return DeskAnswer(notice("stale"))
        LEADS.labels(status.value).inc()
        await self.leads.enqueue(
            JobKind.notify, lead.id, f"notify:{status.value}", payload={"event": status.value}
        )
        return DeskAnswer(notice(status.value), self.dialogue.partner_lead(current))

    async def followup(self, chat_key: str, action: Action) -> bool:
        """The person answers « were you contacted? »: recorded for their own lead only
        (for a lead made on someone's behalf, the operator who sent it answers: the
        question went to their chat)."""
        lead = await self.leads.get(action.question)
        if lead is None or action.arg not in ("yes", "no"):
            return False
        sender = lead.operator_id is not None and telegram_chat(chat_key) == lead.operator_id
        if lead.chat_key != chat_key and not sender:
            return False
        return await self.leads.record_followup(lead.id, action.arg)
