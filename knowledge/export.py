"""The knowledge base as open data: one JSON document and the JSON Schema it follows.

`python -m bot kb export` writes it (schemes with their sources, the directory of contacts,
funders and known gaps, the initiatives, calls and resources near the person, with their
dates) under the licence of knowledge/LICENSE, so networks and public tools can reuse it.
The JSON Schema is generated from the pydantic models, so it cannot drift from the YAML's.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from knowledge.loader import KnowledgeBase
from knowledge.nearby import Nearby
from knowledge.schema import Contact, Funder, KnownGap, Scheme, Source

LICENCE = "Licence Ouverte / Open Licence 2.0 (Etalab)"
LICENCE_URL = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"


class KnowledgeExport(BaseModel):
    """The exported document (its JSON Schema is `KnowledgeExport.model_json_schema()`)."""

    model_config = ConfigDict(extra="forbid")

    licence: str
    licence_url: str
    version: str
    exported_at: date
    schemes: list[Scheme]
    contacts: list[Contact]
    funders: list[Funder]
    gaps: list[KnownGap]
    directory_sources: dict[str, Source]
    nearby: Nearby


def export(kb: KnowledgeBase, today: date) -> dict[str, Any]:
    document = KnowledgeExport(
        licence=LICENCE,
        licence_url=LICENCE_URL,
        version=kb.version,
        exported_at=today,
        schemes=list(kb.schemes.values()),
        contacts=kb.contacts,
        funders=kb.funders,
        gaps=kb.gaps,
        directory_sources={
            key: Source.model_validate(value) for key, value in kb.directory_sources.items()
        },
        nearby=kb.nearby,
    )
    data: dict[str, Any] = json.loads(document.model_dump_json())
    return data


def json_schema() -> dict[str, Any]:
    schema = KnowledgeExport.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Base de connaissances Boussole"
    return schema
