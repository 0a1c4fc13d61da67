"""The places the knowledge base names, from INSEE's geography (knowledge/geo/france.json.gz).

The loader only needs the EPCI codes (to refuse an unknown SIREN in a `scope`); the full
index of communes is bot/territory/geography.py's.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

from knowledge.checks import Problem

GEO_FILE = Path(__file__).resolve().parent / "geo" / "france.json.gz"


@lru_cache(maxsize=4)
def epci_names(path: Path = GEO_FILE) -> dict[str, str]:
    """EPCI names by SIREN."""
    data = json.loads(gzip.decompress(path.read_bytes()))
    return dict(data.get("epcis", {}))


def epci_problems(codes: list[str], rel: str, entry: str, line: int | None) -> list[Problem]:
    """One problem per SIREN that is not an EPCI of the pinned INSEE edition."""
    if not codes:
        return []
    known = epci_names()
    return [
        Problem(
            rel,
            entry,
            f"intercommunalité inconnue « {code} » dans `epcis`",
            "utilisez le SIREN à 9 chiffres d'un EPCI (ex. « 200030658 » pour la CC du "
            "Trièves) tel que l'INSEE le publie ; la liste est celle de knowledge/geo/"
            "france.json.gz (scripts/build_geography.py)",
            line,
        )
        for code in codes
        if code not in known
    ]
