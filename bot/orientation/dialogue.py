"""The orientation's part of the dialogue: questions, answers, help, back, the result."""

from __future__ import annotations

from dataclasses import replace

from bot.dialogue.parts import Parts, Screen, short
from bot.orientation.engine import EngineError, Session, State
from bot.screens.labels import button
from bot.screens.views import CALLBACK_LIMIT, Action, Button, Finished, Kind, Reply, Turn
from bot.territory.routing import effective_profile
from knowledge.schema import Option

PROGRESS_WIDTH = 8
#: how much of a typed text is quoted back
QUOTE = 60


def compare_ids(ids: list[str]) -> str | None:
    """The first two or three schemes, as many as a button's 64 bytes can carry."""
    kept: list[str] = []
    for sid in ids[:3]:
        arg = "+".join([*kept, sid])
        if len(f"{Kind.compare.value}|||{arg}".encode()) > CALLBACK_LIMIT:
            break
        kept.append(sid)
    return "+".join(kept) if len(kept) >= 2 else None


class OrientationDialogue:
    def __init__(self, parts: Parts, screen: Screen) -> None:
        self.parts = parts
        self.screen = screen

    # ------------------------------------------------------------------ actions

    def answer(self, state: State, action: Action) -> Turn:
        try:
            new = self.parts.engine.answer(state.session, action.question, action.arg)
        except EngineError:
            return self.stale(state, action)
        return Turn(new, self.screen(new), True)

    def record(self, state: State, value: str) -> Turn:
        """A typed text that clearly is an answer to the current question (bot.dialogue.typed)."""
        assert state.question is not None
        new = self.parts.engine.answer(state.session, state.question.id, value)
        return self.counted(state, Turn(new, self.screen(new), True))

    def back(self, state: State) -> Turn:
        """Back one answer, wherever it is pressed (the place given stays); while the place
        is asked, back cancels asking."""
        session = state.session
        if session.asking_place:
            new = Session(session.answers, session.place, False)
            return Turn(new, self.screen(new), True)
        if not session.step:
            notice = self.parts.notice("first")
            return Turn(session, [Reply(notice), *self.screen(state)], False)
        new = self.parts.engine.back(session)
        return Turn(new, self.screen(new), True)

    def restart(self) -> Turn:
        new = self.parts.engine.restart()
        notice = self.parts.notice("restarted")
        return Turn(new, [Reply(notice), *self.screen(new)], True)

    def help(self, state: State, question_id: str = "") -> Turn:
        """The ❓ button explains its question in place (the same message, its buttons kept);
        the `aide` command says briefly how Boussole works, with a way back: neither posts
        another live copy of the question or the result."""
        render = self.parts.renderer.render
        if question_id and state.question is not None:
            reply = self.question_reply(state, hint=f"💡 {state.question.help}")
            return Turn(state.session, [reply], False, edit=True)
        text = render("aide.j2")
        if state.question is not None:
            text += "\n\n" + render("help.j2", question=state.question)
        return Turn(state.session, [Reply(text, [[self.parts.resume_button(state)]])], False)

    def stale(self, state: State, action: Action) -> Turn:
        # a double click on the answer just recorded is not an error: nothing to say
        step = action.step
        if (
            action.kind is Kind.answer
            and step is not None
            and step < state.session.step
            and state.session.answers[step] == (action.question, action.arg)
        ):
            return Turn(state.session, [], False, notice=self.parts.notice("already"))
        return self.parts.stale(state, self.screen)

    def counted(self, before: State, turn: Turn) -> Turn:
        """An answer that completes the orientation is counted (anonymously)."""
        if before.finished or not turn.changed:
            return turn
        after = self.parts.engine.state(turn.session)
        if not after.finished:
            return turn
        result = self.parts.engine.result(after)
        schemes = [rec.scheme.id for rec in result.recommended]
        finished = Finished(effective_profile(after.facts), schemes, result.unmet)
        return replace(turn, effects=[*turn.effects, finished])

    def not_understood(
        self, state: State, text: str, suggestions: list[Option], empty: bool = False
    ) -> Turn:
        body = self.parts.renderer.render(
            "not_understood.j2", text=short(text, QUOTE), suggestions=suggestions, empty=empty
        )
        if state.question is None or not suggestions:
            return Turn(state.session, [Reply(body), *self.screen(state)], False)
        step = state.session.step
        rows = [
            [Button(o.label, Action(Kind.answer, o.value, state.question.id, step))]
            for o in suggestions
        ]
        return Turn(state.session, [Reply(body, rows)], False)

    # ------------------------------------------------------------------ screens

    def question_reply(self, state: State, hint: str | None = None) -> Reply:
        question = state.question
        assert question is not None
        step = state.session.step
        done = max(state.number - 1, 0)
        filled = round(PROGRESS_WIDTH * done / max(state.total, 1))
        left = state.total - done
        text = self.parts.renderer.render(
            "question.j2",
            state=state,
            question=question,
            progress="▰" * filled + "▱" * (PROGRESS_WIDTH - filled),
            left_after=max(left - 1, 0),
            hint=hint,
        )
        rows = [
            [Button(opt.label, Action(Kind.answer, opt.value, question.id, step))]
            for opt in question.options
        ]
        controls = [Button(button("help"), Action(Kind.help, "", question.id, step))]
        if step:
            controls.append(Button(button("back"), Action(Kind.back, step=step)))
            controls.append(Button(button("restart"), Action(Kind.restart, step=step)))
        rows.append(controls)
        return Reply(text, rows)

    def result_reply(self, state: State) -> Reply:
        result = self.parts.engine.result(state)
        text = self.parts.renderer.render("result.j2", result=result)
        step = state.session.step
        schemes = [rec.scheme for rec in result.recommended]
        schemes += [alt.scheme for alt in result.alternatives]
        rows = [
            [Button(button("fiche", name=s.short_name), Action(Kind.fiche, s.id))] for s in schemes
        ]
        ids = compare_ids([s.id for s in schemes])
        if ids:
            rows.append([Button(button("compare"), Action(Kind.compare, ids))])
        rows.append(
            [
                Button(button("back"), Action(Kind.back, step=step)),
                Button(button("restart"), Action(Kind.restart, step=step)),
            ]
        )
        rows.append([Button(button("share"), Action(Kind.share, step=step))])
        return Reply(text, rows)
