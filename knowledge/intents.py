"""Intents: what people type that is neither an answer nor a scheme (knowledge/intents.yaml).

The file is curated by ESS staff. This module holds its schema and the checks that need no
matcher (a duplicate id or phrasing, an unknown action); `bot.dialogue.intents` finds
intents in typed texts and reports a phrasing that two intents would recognise.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from knowledge.loader import Problem, normalize

INTENTS_FILE = "intents.yaml"

Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class IntentAction(StrEnum):
    current = "current"
    help = "help"
    contacts = "contacts"
    funders = "funders"
    schemes = "schemes"
    restart = "restart"
    privacy = "privacy"


class Intent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
    examples: list[Phrase] = Field(min_length=1)
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]
    action: IntentAction | None = None
    takes_place: bool = False
    #: only when the message says nothing else (« Bonjour, je voudrais créer une SCIC » is
    #: about the SCIC, not a greeting)
    alone: bool = False


class Intents(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    intents: list[Intent] = Field(default_factory=list)


def load_intents(root: Path) -> tuple[list[Intent], list[Problem]]:
    """The intents of a knowledge base and the problems found (none when the file is absent)."""
    path = root / INTENTS_FILE
    if not path.exists():
        return [], []
    problems: list[Problem] = []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        parsed = Intents.model_validate(data)
    except yaml.YAMLError as exc:
        return [], [Problem(INTENTS_FILE, "", f"YAML illisible ({exc})", "corrigez la syntaxe")]
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            fix = "actions possibles : " + ", ".join(a.value for a in IntentAction)
            if "action" not in where:
                fix = "voyez l'en-tête du fichier pour le format attendu"
            problems.append(Problem(INTENTS_FILE, where, err["msg"], fix))
        return [], problems
    seen_ids: set[str] = set()
    seen: dict[str, str] = {}
    for intent in parsed.intents:
        if intent.id in seen_ids:
            problems.append(
                Problem(INTENTS_FILE, intent.id, "identifiant en double", "renommez l'une des deux")
            )
        seen_ids.add(intent.id)
        for example in intent.examples:
            key = normalize(example)
            if not key:
                problems.append(
                    Problem(
                        INTENTS_FILE, intent.id, f"formulation vide : « {example} »", "retirez-la"
                    )
                )
            elif key in seen:
                problems.append(
                    Problem(
                        INTENTS_FILE,
                        intent.id,
                        f"formulation en double : « {example} » (déjà dans « {seen[key]} »)",
                        "gardez-la dans une seule intention",
                    )
                )
            else:
                seen[key] = intent.id
    return list(parsed.intents), problems
