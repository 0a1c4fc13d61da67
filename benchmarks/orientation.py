"""What the orientation asks and whom it names: `python benchmarks/orientation.py`.

Issues 14 and 19, measured over every curators' case (knowledge/cases/) and one place per
région: the questions asked (median, max), then per result the contacts without a link or a
way to reach them, the national bodies shown next to a regional one of the same kind, the
funders that do not fit (by knowledge/routing.yaml), the alternatives that did not score, the
generic « why not » sentences, the « aucun cadre » results and the routings without a funder.

`--code DIR` measures another checkout (e.g. the code before a change, extracted with
`git archive <commit> | tar -x -C DIR`), with ITS knowledge and cases, but always the rules of
this checkout's knowledge/routing.yaml, so that before and after are counted the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import median
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent.parent
#: one place per région (a postal code of its chef-lieu)
PLACES = [
    "69001", "21000", "35000", "45000", "20000", "67000", "59000", "75001", "76000",
    "33000", "31000", "44000", "13001", "97100", "97200", "97300", "97400", "97600",
]  # fmt: skip
GENERIC = "cela ne suffit pas à le recommander au vu de vos autres réponses"


def play(engine: Any, answers: dict[str, str]) -> tuple[Any, int]:
    """Answer what the engine asks from the case; « je ne sais pas » to anything else."""
    from bot.orientation.engine import Session

    session = Session()
    asked = 0
    while (state := engine.state(session)).question is not None:
        q = state.question
        value = answers.get(q.id) or next((o.value for o in q.options if o.unknown), None)
        if value is None:
            break
        session = engine.answer(session, q.id, value)
        asked += 1
    return engine.state(session), asked


def measure(code: Path) -> dict[str, Any]:
    sys.path.insert(0, str(code))
    from bot.orientation.engine import Engine
    from bot.screens.render import Renderer
    from bot.territory.geography import Geography
    from bot.territory.routing import Router, effective_profile
    from knowledge.loader import load_cases, load_knowledge

    kb = load_knowledge(code / "knowledge")
    rules = yaml.safe_load((HERE / "knowledge" / "routing.yaml").read_text(encoding="utf-8"))
    kinds = {c.id: c.kind.value for c in kb.contacts}
    funders = {f.id: f for f in kb.funders}
    allowed = {s: set(r["instruments"]) for r in rules["instruments"] for s in r["schemes"]}
    main_need = {f for r in rules["main_need"] for f in r["funders"]}
    national = {r["contact"]: r["regional_kind"] for r in rules["national"]}

    def fits(fid: str, schemes: list[str]) -> bool:
        f = funders[fid]
        if not schemes:
            return True
        ok = lambda s: s not in allowed or f.instrument.value in allowed[s]  # noqa: E731
        if not f.schemes:
            return ok(schemes[0])
        if fid in main_need and schemes[0] not in f.schemes:
            return False
        return any(ok(s) for s in schemes if s in f.schemes)

    rooms = ("orientation", "territory", "leads", "dialogue")  # each room keeps its templates
    folders = [code / "bot" / room / "templates" for room in rooms]
    engine, geo = Engine(kb), Geography()
    renderer = Renderer([f for f in folders if f.is_dir()] or [code / "bot" / "templates"])
    router = Router(kb, geo)
    places = [geo.resolve(p).best for p in PLACES]
    counts = dict.fromkeys(
        [
            "results",
            "routings",
            "contacts_without_link",
            "national_where_regional",
            "funders_not_fitting",
            "alternatives_not_scored",
            "generic_why_not",
            "aucun_cadre",
            "aucun_cadre_but_scored",
            "routings_without_funder",
        ],
        0,
    )
    asked: list[int] = []
    for _, case in load_cases(code / "knowledge"):
        if case.expect_next_question is not None:
            continue  # a step of the path, not a whole orientation
        state, n = play(engine, dict(case.answers))
        asked.append(n)
        result = engine.result(state)
        counts["results"] += 1
        recommended = [r.scheme.id for r in result.recommended]
        # as the routing reply does: « pistes à explorer » get their own contacts
        routed = recommended or [a.scheme.id for a in getattr(result, "leads", [])]
        nothing = not recommended and not getattr(result, "leads", None)
        counts["aucun_cadre"] += nothing
        counts["aucun_cadre_but_scored"] += nothing and bool(result.alternatives)
        counts["alternatives_not_scored"] += sum(not a.reasons for a in result.alternatives)
        counts["generic_why_not"] += renderer.render("result.j2", result=result).count(GENERIC)
        for place in places:
            routing = router.route(
                place, effective_profile(state.facts), state.facts.get("stage"), routed
            )
            counts["routings"] += 1
            counts["contacts_without_link"] += sum(
                not m.website and not getattr(m, "reach", None) for m in routing.contacts
            )
            local = {kinds[m.item_id] for m in routing.contacts if m.level != "national"}
            counts["national_where_regional"] += sum(
                m.item_id in national and national[m.item_id] in local for m in routing.contacts
            )
            counts["funders_not_fitting"] += sum(
                not fits(m.item_id, routed) for m in routing.funders
            )
            counts["routings_without_funder"] += not routing.funders
    return {
        "questions": {"cases": len(asked), "median": median(asked), "max": max(asked)},
        **counts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=HERE, help="checkout to measure")
    args = parser.parse_args()
    print(json.dumps(measure(args.code.resolve()), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
