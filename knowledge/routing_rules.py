"""Load and check knowledge/routing.yaml: which contacts and funders fit whom (issue 19).

The rules are data curators edit; this module refuses a rules file that names a contact,
a funder or a scheme the knowledge base does not have, with the file, the entry and the fix.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from knowledge.loader import KnowledgeBase, KnowledgeError, Problem
from knowledge.schema import RoutingRules

RULES_FILE = "routing.yaml"


def load_routing_rules(kb: KnowledgeBase) -> RoutingRules:
    """The rules of `kb` (none if it has no routing.yaml); KnowledgeError if invalid."""
    path = Path(kb.root) / RULES_FILE
    if not path.exists():
        return RoutingRules()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise KnowledgeError(
            [Problem(RULES_FILE, "", f"fichier illisible ({exc})", "corrigez le YAML (UTF-8)")]
        ) from exc
    try:
        rules = RoutingRules.model_validate(data)
    except ValidationError as exc:
        raise KnowledgeError(
            [
                Problem(
                    RULES_FILE,
                    ".".join(str(p) for p in err["loc"]),
                    err["msg"],
                    "voir l'en-tête de routing.yaml pour les champs attendus",
                )
                for err in exc.errors()
            ]
        ) from exc
    problems = check_routing_rules(kb, rules)
    if problems:
        raise KnowledgeError(problems)
    return rules


def check_routing_rules(kb: KnowledgeBase, rules: RoutingRules) -> list[Problem]:
    contacts = {c.id: c for c in kb.contacts}
    funders = {f.id for f in kb.funders}
    out: list[Problem] = []

    def unknown(section: str, i: int, what: str, value: str, choices: str) -> None:
        out.append(
            Problem(
                RULES_FILE,
                f"{section}[{i}]",
                f"{what} « {value} » inconnu",
                f"utilisez un identifiant de {choices}",
            )
        )

    for i, reach in enumerate(rules.reach):
        if reach.via is not None:
            via = contacts.get(reach.via)
            if via is None:
                unknown("reach", i, "contact", reach.via, "knowledge/directory/")
            elif via.website is None:
                out.append(
                    Problem(
                        RULES_FILE,
                        f"reach[{i}]",
                        f"« {reach.via} » n'a pas de site web sourcé",
                        "choisissez un contact dont le site est sourcé, ou retirez `via`",
                    )
                )
    for i, nat in enumerate(rules.national):
        contact = contacts.get(nat.contact)
        if contact is None:
            unknown("national", i, "contact", nat.contact, "knowledge/directory/")
        elif not contact.scope.national:
            out.append(
                Problem(
                    RULES_FILE,
                    f"national[{i}]",
                    f"« {nat.contact} » n'est pas un contact national",
                    "cette règle ne vaut que pour un contact de portée nationale",
                )
            )
    named: list[tuple[str, int, list[str]]] = [
        *(("first", i, r.schemes) for i, r in enumerate(rules.first)),
        *(("instruments", i, r.schemes) for i, r in enumerate(rules.instruments)),
    ]
    for section, i, schemes in named:
        for sid in schemes:
            if sid not in kb.schemes:
                unknown(section, i, "fiche", sid, "knowledge/schemes/")
    seen: dict[str, int] = {}
    for i, inst in enumerate(rules.instruments):
        for sid in inst.schemes:
            if sid in seen:
                out.append(
                    Problem(
                        RULES_FILE,
                        f"instruments[{i}]",
                        f"la fiche « {sid} » a déjà sa règle (instruments[{seen[sid]}])",
                        "une seule règle de financement par fiche",
                    )
                )
            seen[sid] = i
    for i, need in enumerate(rules.main_need):
        for fid in need.funders:
            if fid not in funders:
                unknown("main_need", i, "financement", fid, "knowledge/directory/funders.yaml")
    return out
