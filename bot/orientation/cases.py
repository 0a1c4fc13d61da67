"""Run the curators' YAML test cases against the engine."""

from __future__ import annotations

from dataclasses import dataclass

from bot.orientation.engine import Engine, EngineError, Session, State
from knowledge.schema import Case


@dataclass
class Played:
    """A case played through the engine: what was asked, and the state it ends in."""

    state: State
    asked: list[str]  # the questions the engine asked, in order
    failures: list[str]


def play_case(engine: Engine, case: Case) -> Played:
    """Answer the questions the engine asks with the case's answers.

    The case gives what the person would answer to each question; the engine may pass over
    some of them (no answer could change the result): those answers are simply not given.
    """
    failures: list[str] = []
    session = Session()
    asked: list[str] = []
    pending = dict(case.answers)
    state = engine.state(session)
    while state.question is not None and state.question.id in pending:
        qid = state.question.id
        value = pending.pop(qid)
        asked.append(qid)
        try:
            session = engine.answer(session, qid, value)
        except EngineError:
            failures.append(f"« {value} » n'est pas une réponse de « {qid} »")
            return Played(state, asked, failures)
        state = engine.state(session)
    passed_over = {q.id for q in state.skipped}
    stray = [qid for qid in pending if qid not in passed_over]
    if stray:
        current = state.question.id if state.question else "result"
        failures.append(f"le moteur pose « {current} » au lieu de « {stray[0]} »")
    return Played(state, asked, failures)


def run_case(engine: Engine, case: Case) -> list[str]:
    """The failures of one case, in words (empty when the case passes)."""
    played = play_case(engine, case)
    failures = played.failures
    if failures:
        return failures
    state = played.state
    limit = case.expect_questions_at_most
    if limit is not None and len(played.asked) > limit:
        failures.append(f"{len(played.asked)} questions posées, {limit} au plus attendues")
    nxt = state.question.id if state.question else "result"
    if case.expect_next_question and nxt != case.expect_next_question:
        failures.append(f"question suivante : « {nxt} », attendu « {case.expect_next_question} »")
    if state.question is not None:
        if any((case.expect_first, case.expect_in_top, case.expect_recommended)):
            failures.append(f"l'orientation n'est pas finie (question « {nxt} » encore posée)")
        return failures
    result = engine.result(state)
    ranked = [r.scheme.id for r in result.recommended]
    shown = f"recommandées : {', '.join(ranked) or 'aucune'}"
    if case.expect_first and (not ranked or ranked[0] != case.expect_first):
        failures.append(f"première fiche attendue « {case.expect_first} » ({shown})")
    if case.expect_unmet and not result.unmet:
        leads = ", ".join(a.scheme.id for a in result.leads)
        failures.append(f"aucune fiche attendue ({shown} ; pistes : {leads or 'aucune'})")
    if case.expect_open_points is not None and len(result.open_points) != case.expect_open_points:
        failures.append(
            f"{case.expect_open_points} point(s) à éclaircir attendu(s), "
            f"{len(result.open_points)} obtenu(s)"
        )
    for sid in case.expect_in_top:
        if sid not in ranked[:3]:
            failures.append(f"« {sid} » attendue parmi les trois premières ({shown})")
    lead_ids = [a.scheme.id for a in result.leads]
    for sid in case.expect_leads:
        if sid not in lead_ids:
            found = ", ".join(lead_ids) or "aucune"
            failures.append(f"« {sid} » attendue parmi les pistes ({found})")
    for sid in case.expect_recommended:
        if sid not in ranked:
            failures.append(f"« {sid} » attendue parmi les recommandées ({shown})")
    for sid in case.expect_not_recommended:
        if sid in ranked:
            failures.append(f"« {sid} » ne devrait pas être recommandée ({shown})")
    alternatives = {a.scheme.id: a for a in result.alternatives}
    for sid in case.expect_why_not:
        alt = alternatives.get(sid)
        if alt is None or not (alt.why_not or alt.overflow or alt.missing):
            failures.append(f"« {sid} » attendue dans « également étudiés » avec une raison")
    for sid, fragment in case.expect_reason_contains.items():
        reasons = [
            r.text for rec in result.recommended if rec.scheme.id == sid for r in rec.reasons
        ]
        if not any(fragment.lower() in r.lower() for r in reasons):
            failures.append(f"aucune raison de « {sid} » ne contient « {fragment} »")
    return failures


def asked_answers(engine: Engine, case: Case) -> tuple[tuple[str, str], ...]:
    """The case's answers to the questions the engine actually asks, in order."""
    return play_case(engine, case).state.session.answers
