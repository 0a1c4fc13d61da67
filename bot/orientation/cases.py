"""Run the curators' YAML test cases against the engine."""

from __future__ import annotations

from bot.orientation.engine import Engine, EngineError, Session
from knowledge.schema import Case


def run_case(engine: Engine, case: Case) -> list[str]:
    """The failures of one case, in words (empty when the case passes)."""
    failures: list[str] = []
    session = Session()
    for qid, value in case.answers.items():
        state = engine.state(session)
        current = state.question.id if state.question else "result"
        if current != qid:
            failures.append(f"le moteur pose « {current} » au lieu de « {qid} »")
            return failures
        try:
            session = engine.answer(session, qid, value)
        except EngineError:
            failures.append(f"« {value} » n'est pas une réponse de « {qid} »")
            return failures
    state = engine.state(session)
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
    if case.expect_unmet and ranked:
        failures.append(f"aucune fiche attendue ({shown})")
    if case.expect_open_points is not None and len(result.open_points) != case.expect_open_points:
        failures.append(
            f"{case.expect_open_points} point(s) à éclaircir attendu(s), "
            f"{len(result.open_points)} obtenu(s)"
        )
    for sid in case.expect_in_top:
        if sid not in ranked[:3]:
            failures.append(f"« {sid} » attendue parmi les trois premières ({shown})")
    for sid in case.expect_recommended:
        if sid not in ranked:
            failures.append(f"« {sid} » attendue parmi les recommandées ({shown})")
    for sid in case.expect_not_recommended:
        if sid in ranked:
            failures.append(f"« {sid} » ne devrait pas être recommandée ({shown})")
    alternatives = {a.scheme.id: a for a in result.alternatives}
    for sid in case.expect_why_not:
        alt = alternatives.get(sid)
        if alt is None or not alt.why_not:
            failures.append(f"« {sid} » attendue dans « également étudiés » avec une raison")
    for sid, fragment in case.expect_reason_contains.items():
        reasons = [
            r.text for rec in result.recommended if rec.scheme.id == sid for r in rec.reasons
        ]
        if not any(fragment.lower() in r.lower() for r in reasons):
            failures.append(f"aucune raison de « {sid} » ne contient « {fragment} »")
    return failures
