"""One input of one chat: read the stored session, run the dialogue, write it back.

Every channel goes through here, so the state is never only in memory: a restart, or
another process serving the same bot, continues each conversation where it was. Writes
are checked against the version read; when another worker moved the conversation on
in the meantime (a double click landing on two workers), the input is replayed on the
fresh state, where a duplicate click is recognised as such.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.dialogue.router import Conversation
from bot.leads.desk import PartnerDesk
from bot.leads.erasure import erase_chat
from bot.leads.handoff import HandoffDesk
from bot.leads.limits import LeadLimiter, LeadLimits
from bot.leads.operators import OperatorDesk
from bot.leads.partners import Operator
from bot.leads.store import LeadStore, create_lead, on_behalf_key, record_orientation
from bot.orientation.engine import Session
from bot.orientation.share import Shares, link_reply, share_id, shared_replies
from bot.platform.observe import LEADS, ORIENTATIONS
from bot.platform.storage import Also, ConversationStore, record_unrecognised
from bot.screens.views import (
    Action,
    Finished,
    Kind,
    Missed,
    Reply,
    SendLead,
    Turn,
    telegram_chat,
    web_network,
)

log = logging.getLogger(__name__)

Step = Callable[[Session], Turn]
#: views that need the database besides the conversation
_STORED_VIEWS = {Kind.my_data, Kind.leads, Kind.stats}


class ChatService:
    def __init__(
        self,
        conversation: Conversation,
        store: ConversationStore,
        attempts: int = 5,
        leads: LeadStore | None = None,
        limits: LeadLimits | None = None,
    ) -> None:
        self.conversation = conversation
        self.store = store
        self.attempts = attempts
        self.leads = leads or LeadStore(store.engine)
        self.limiter = LeadLimiter(store.engine, limits)
        #: shared results; each channel that can open one sets its link (`shares.links`)
        self.shares = Shares(store)
        self._desks(conversation)
        #: called once a lead is stored (the delivery worker of this process wakes up)
        self.on_lead: Callable[[], None] = lambda: None

    async def start(self, chat_key: str, payload: str = "", update_id: int | None = None) -> Turn:
        shared = share_id(payload)
        if shared is not None:  # a shared result's deep link: shown, nothing of theirs changes
            session, _ = await self.store.load(chat_key)
            return Turn(session, await self.shared(shared), False)
        return await self.run(chat_key, lambda s: self.conversation.welcome(s, payload), update_id)

    async def shared(self, share: str) -> list[Reply]:
        """A shared result, read-only (or why it cannot be shown)."""
        return shared_replies(self.conversation, await self.shares.load(share))

    async def share(self, chat_key: str, action: Action) -> Turn:
        """« Partager ce résultat »: store the result under a new id and give its links."""
        session, _ = await self.store.load(chat_key)
        state = self.conversation.engine.state(session)
        fresh = action.step is None or action.step == state.session.step
        if state.question is not None or not fresh:  # not (or no longer) this result
            return self.conversation.handle_action(session, action)
        links = self.shares.links.of(await self.shares.create(state.session))
        return Turn(session, [link_reply(self.conversation, links)], False)

    def swap(self, conversation: Conversation) -> None:
        """Serve a reloaded knowledge base from the next update on."""
        self.conversation = conversation
        self._desks(conversation)

    def _desks(self, conversation: Conversation) -> None:
        self.desk = PartnerDesk(self.leads, conversation.partner)
        self.operators = OperatorDesk(
            self.leads, conversation.partners, conversation.renderer, conversation.kb
        )
        self.handoff = HandoffDesk(self.leads, conversation.leads, lambda: self.on_lead())

    def operator(self, chat_key: str) -> Operator | None:
        """The operator writing in this chat (a private chat's id is the user's id)."""
        return self.conversation.partners.operator(telegram_chat(chat_key))

    async def text(self, chat_key: str, text: str, update_id: int | None = None) -> Turn:
        """A typed text; `update_id` (Telegram's) makes a redelivered update change nothing."""
        command = self.conversation.command_of(text)
        if command is Kind.forget and len(text.split()) > 1:  # `/oublier CODE`
            code = self.handoff.read_code(text) or "-"
            return await self.action(chat_key, Action(Kind.forget, f"code:{code}"))
        if command in _STORED_VIEWS:
            return await self.action(chat_key, Action(command))
        return await self.run(chat_key, lambda s: self.conversation.handle_text(s, text), update_id)

    async def action(
        self, chat_key: str, action: Action | None, update_id: int | None = None
    ) -> Turn:
        kind = action.kind if action is not None else None
        if kind is Kind.my_data:
            return await self.my_data(chat_key)
        if action is not None and kind is Kind.share:
            return await self.share(chat_key, action)
        if action is not None and kind in (Kind.leads, Kind.stats):
            return await self._operator_view(chat_key, action)
        if action is not None and kind is Kind.forget and action.arg.startswith("code"):
            session, _ = await self.store.load(chat_key)  # a person erasing with their code
            return Turn(session, [await self.handoff.code(action.arg)], False)
        if action is not None and kind is Kind.followup:
            session, _ = await self.store.load(chat_key)
            if await self.desk.followup(chat_key, action):
                lead = await self.leads.get(action.question)
                on_behalf = lead is not None and lead.on_behalf
                thanks = self.conversation.partner.followup_thanks(action.arg, on_behalf)
                return Turn(session, [thanks], False)
            return self.conversation.handle_action(session, None)  # not theirs, or forged
        operator = self.operator(chat_key)
        if action is not None and kind is Kind.lead:
            refused = await self._over_limit(chat_key, action, operator)
            if refused is not None:
                return refused
        return await self.run(
            chat_key, lambda s: self.conversation.handle_action(s, action, operator), update_id
        )

    async def _over_limit(
        self, chat_key: str, action: Action, operator: Operator | None
    ) -> Turn | None:
        """Opening or sending a lead beyond the limits (bot.leads.limits): why not."""
        verb, _, target = action.arg.partition(":")
        if verb not in ("start", "send"):
            return None
        session, _ = await self.store.load(chat_key)
        fields = session.fields
        organisation = self.conversation.partners.get(
            target if verb == "start" else fields.get("o", "")
        )
        if organisation is None or (verb == "send" and not session.form):
            return None  # the dialogue answers (unknown organisation, already sent…)
        on_behalf = operator is not None if verb == "start" else bool(fields.get("b"))
        operator_id = operator.telegram_user_id if operator is not None and on_behalf else None
        contact = fields.get("c") if verb == "send" else None
        refusal = await self.limiter.check(chat_key, organisation.id, operator_id, contact)
        if refusal is None:
            return None
        text = self.conversation.renderer.render(
            "lead_form.j2", kind=refusal.kind, organisation=organisation.name, count=refusal.count
        )
        return Turn(session, [Reply(text)], False, notice=text)

    async def _operator_view(self, chat_key: str, action: Action) -> Turn:
        operator = self.operator(chat_key)
        session, _ = await self.store.load(chat_key)
        if action.kind is Kind.stats:
            reply = await self.operators.stats(operator)
        elif action.question and operator is not None:  # one lead the organisation sent
            reply = await self.handoff.press(operator, action)
        elif action.question:
            reply = self.operators.refusal()
        elif action.arg == "csv":
            reply = await self.operators.export(operator)
        else:
            reply = await self.operators.overview(operator)
        return Turn(session, [reply], False)

    async def my_data(self, chat_key: str) -> Turn:
        session, _ = await self.store.load(chat_key)
        return self.conversation.my_data(session, await self.leads.for_chat(chat_key))

    async def unsupported(self, chat_key: str) -> Turn:
        return await self.run(chat_key, self.conversation.other.unsupported)

    async def failure(self, chat_key: str) -> Turn:
        """What to show after an error: where the person is, read again from the store."""
        session, _ = await self.store.load(chat_key)
        return self.conversation.other.failure(session)

    async def run(self, chat_key: str, step: Step, update_id: int | None = None) -> Turn:
        """Run one input on the stored session. `update_id`: the Telegram update carrying
        it; an update that already changed this conversation (Telegram re-sends it when
        it did not get an answer in time) changes nothing and answers nothing."""
        session = Session()
        for _ in range(self.attempts):
            stored = await self.store.read(chat_key)
            session, version = stored.session, stored.version
            if stored.handled(update_id):  # Telegram delivered it again: done already
                log.info("update delivered again; ignored")
                return Turn(session, [], False)
            turn = step(session)
            effects = [e for e in turn.effects if not (stored.counted and isinstance(e, Finished))]
            updates = stored.with_update(update_id) if update_id is not None else None
            if not turn.changed and not effects:
                if updates is not None and version:
                    await self.store.mark(chat_key, updates)
                return turn
            if turn.erase:
                await self.store.delete(chat_key, also=self._erase_leads(chat_key))
                return turn
            counted: bool | None = None
            if any(isinstance(e, Finished) for e in effects):
                counted = True  # once per orientation, whatever changes after the result
            elif stored.counted and not turn.session.answers:
                counted = False  # started again: the next result is a new orientation
            also = self._store_effects(chat_key, effects) if effects else None
            if await self.store.save(chat_key, turn.session, version, also, updates, counted):
                for effect in effects:
                    if isinstance(effect, Finished):
                        ORIENTATIONS.labels(str(effect.unmet).lower()).inc()
                    elif isinstance(effect, SendLead):
                        LEADS.labels("new").inc()
                        self.on_lead()
                return turn
            log.info("conversation moved on during an update; replaying it")
        return self.conversation.other.busy(session)

    def _store_effects(self, chat_key: str, effects: list[SendLead | Finished | Missed]) -> Also:
        async def also(conn: AsyncConnection) -> None:
            for effect in effects:
                if isinstance(effect, Finished):
                    await record_orientation(
                        conn, effect.profile, effect.schemes, effect.unmet, web_network(chat_key)
                    )
                    continue
                if isinstance(effect, Missed):
                    await record_unrecognised(conn, effect.kind)
                    continue
                # a lead qualified on someone's behalf is that person's, not the
                # operator's: the operator's own /oublier leaves it alone
                owner = on_behalf_key(effect.lead["id"]) if effect.operator_id else chat_key
                await create_lead(
                    conn,
                    effect.lead,
                    owner,
                    effect.organisation,
                    effect.channels,
                    effect.operator_id,
                    effect.sender_organisation,
                    effect.erasure_code,
                )

        return also

    def _erase_leads(self, chat_key: str) -> Also:
        async def also(conn: AsyncConnection) -> None:
            await erase_chat(conn, chat_key)

        return also

    async def purge(self, older_than: timedelta) -> int:
        return await self.store.purge(older_than)
