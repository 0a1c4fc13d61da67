"""What already exists near the person: initiatives, networks' maps, open calls, aid searches.

The YAML files of knowledge/nearby/ are written by ESS curators like the rest of the base:
every entry carries its `sources` (keys of the file's `sources` map, each with its
`verified_at`) and its own `verified_at`; what changes (a call, a list of territories) carries
a `review_by` that `kb check` enforces. Nothing here is invented: where a network only
publishes a map, the entry is the map's link, never a guessed list.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from knowledge.checks import Problem, _line_of, _unknown_source, entry_problems
from knowledge.places import epci_problems
from knowledge.schema import (
    REGIONS,
    Audience,
    Id,
    Scope,
    Siren,
    Source,
    Stage,
    Text,
    UserText,
)

Url = Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
NEARBY_DIR = "nearby"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InitiativeKind(StrEnum):
    """What kind of thing already runs nearby."""

    tzcld = "tzcld"  # a territory habilitated for Territoires zéro chômeur de longue durée
    ptce = "ptce"  # a pôle territorial de coopération économique
    tiers_lieu = "tiers_lieu"
    espace_test = "espace_test"  # an espace test agricole
    maison_ess = "maison_ess"  # a Maison de l'ESS: premises and a meeting place


#: the fiche each kind of initiative illustrates
KIND_SCHEMES: dict[InitiativeKind, str] = {
    InitiativeKind.tzcld: "tzcld",
    InitiativeKind.ptce: "ptce",
    InitiativeKind.tiers_lieu: "tiers_lieu",
    InitiativeKind.espace_test: "espace_test_agricole",
}
#: kinds shown wherever one is known, whatever the project (never « aucune connue » for them)
SHOWN_WHEN_FOUND = (InitiativeKind.maison_ess,)


class Initiative(_Strict):
    """One initiative that runs (or is habilitated) somewhere, from a public list or article."""

    id: Id
    name: Text
    kind: InitiativeKind
    departements: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)  # when only the région is known
    #: the intercommunalité it runs in (SIREN), when it is one: its communes see it first
    epcis: list[Siren] = Field(default_factory=list)
    what: UserText | None = None
    website: Url | None = None
    sources: list[Id] = Field(min_length=1)
    verified_at: date
    review_by: date  # a list of territories or laureates changes: say when to look again


class NetworkMap(_Strict):
    """A network's own public list or map of its members: the link to give where no entry is."""

    id: Id
    kind: InitiativeKind
    name: Text
    url: Url
    what: UserText
    sources: list[Id] = Field(min_length=1)
    verified_at: date


class MemberDirectory(_Strict):
    """A network's public directory of its members, for a company looking for partners nearby.

    Regional (a CRESS's list of the ESS companies of its région, art. 6 of the loi ESS) or
    `national: true`, the fallback shown, and said to be national, where a région has none.
    Shown to the `profiles` it names, or for a recommended scheme among `schemes`.
    """

    id: Id
    name: Text
    offered_by: Text
    what: UserText
    url: Url | None = None
    national: bool = False
    regions: list[str] = Field(default_factory=list)
    profiles: list[Audience] = Field(default_factory=list)
    schemes: list[Id] = Field(default_factory=list)
    review_by: date  # a directory moves or closes: say when to look again
    sources: list[Id] = Field(min_length=1)
    verified_at: date


class Call(_Strict):
    """A call for projects or an aid the base knows, with its closing date."""

    id: Id
    name: Text
    offered_by: Text
    what: UserText
    url: Url | None = None
    scope: Scope
    schemes: list[Id] = Field(default_factory=list)
    profiles: list[Audience] = Field(default_factory=list)
    stages: list[Stage] = Field(default_factory=list)
    closes: date | None = None  # None: open all year (« au fil de l'eau »)
    review_by: date  # a call always changes: say when to look again
    sources: list[Id] = Field(min_length=1)
    verified_at: date


class AidSearch(_Strict):
    """How to build Aides-territoires' search link (its real query parameters)."""

    base_url: Url
    audience_param: Id
    keyword_param: Id
    perimeter_param: Id
    #: profile (Audience) -> Aides-territoires' audience value
    audiences: dict[str, Id]
    default_keyword: Text
    keywords: dict[Id, Text] = Field(default_factory=dict)  # scheme id -> keyword
    #: INSEE code of a département ("d:29") or région ("r:53") -> Aides-territoires' own
    #: perimeter id; only ids read on Aides-territoires itself (never guessed)
    perimeters: dict[str, Annotated[str, StringConstraints(pattern=r"^[0-9]+$")]] = Field(
        default_factory=dict
    )
    sources: list[Id] = Field(min_length=1)
    verified_at: date


class Resource(_Strict):
    """A resource for a situation: partners for a company, land, peers, running, creation.

    Who it is for narrows it: `profiles` (an unknown profile passes) and `regions` (only for a
    place in one of them). When it helps is a situation: a recommended fiche among `schemes`,
    the stage among `stages`, or an answer among `answers` (fact -> values of tree.yaml); when
    several are listed, any one of them is enough (bot/territory/nearby.py)."""

    id: Id
    topic: Id  # partners, land, peers, running, creation, training
    name: Text
    what: UserText
    website: Url | None = None
    schemes: list[Id] = Field(default_factory=list)
    profiles: list[Audience] = Field(default_factory=list)
    stages: list[Stage] = Field(default_factory=list)
    answers: dict[Id, list[Id]] = Field(default_factory=dict)
    regions: list[str] = Field(default_factory=list)
    review_by: date | None = None
    sources: list[Id] = Field(min_length=1)
    verified_at: date


class NearbyFile(_Strict):
    sources: dict[Id, Source] = Field(min_length=1)
    initiatives: list[Initiative] = Field(default_factory=list)
    maps: list[NetworkMap] = Field(default_factory=list)
    directories: list[MemberDirectory] = Field(default_factory=list)
    calls: list[Call] = Field(default_factory=list)
    aid_search: AidSearch | None = None
    resources: list[Resource] = Field(default_factory=list)


class Nearby(_Strict):
    """Every nearby file merged; `sources` keys are prefixed with their file's stem."""

    sources: dict[str, Source] = Field(default_factory=dict)
    initiatives: list[Initiative] = Field(default_factory=list)
    maps: list[NetworkMap] = Field(default_factory=list)
    directories: list[MemberDirectory] = Field(default_factory=list)
    calls: list[Call] = Field(default_factory=list)
    aid_search: AidSearch | None = None
    resources: list[Resource] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)  # entry id -> its file


def load_nearby(
    root: Path,
    schemes: dict[str, Any],
    departements: set[str],
    read: Any,
    problems: list[Problem],
    digest: Any,
    facts: dict[str, set[str]] | None = None,
) -> Nearby:
    """knowledge/nearby/*.yaml, each entry checked (sources, places, fiches); `facts`: the
    tree's facts and their values, which a resource's `answers` must use."""
    merged: dict[str, Any] = {
        "sources": {},
        "initiatives": [],
        "maps": [],
        "directories": [],
        "calls": [],
        "resources": [],
        "files": {},
    }
    aid_search: AidSearch | None = None
    seen: dict[str, str] = {}
    for path in sorted((root / NEARBY_DIR).glob("*.yaml")):
        digest.update(path.name.encode() + path.read_bytes())
        rel = f"{root.name}/{NEARBY_DIR}/{path.name}"
        data, node = read(path, root, problems)
        if data is None:
            continue
        try:
            parsed = NearbyFile.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = list(err["loc"])
                entry = _entry_id(data, loc)
                problems.append(
                    Problem(
                        rel,
                        entry,
                        f"champ « {'.'.join(str(p) for p in loc)} » : {err['msg']}",
                        _fix(err),
                        _line_of(node, loc),
                    )
                )
            continue
        problems.extend(_check_file(parsed, rel, node, schemes, departements, seen))
        if facts is not None:
            problems.extend(_check_resources(parsed, rel, node, facts))
        for key, src in parsed.sources.items():
            merged["sources"][f"{path.stem}:{key}"] = src
        for section in ("initiatives", "maps", "directories", "calls", "resources"):
            for item in getattr(parsed, section):
                merged[section].append(item)
                merged["files"][item.id] = rel
        if parsed.aid_search is not None:
            aid_search = parsed.aid_search
            merged["files"]["aid_search"] = rel
    return Nearby(aid_search=aid_search, **merged)


def _entry_id(data: Any, loc: list[Any]) -> str:
    if len(loc) >= 2 and isinstance(loc[1], int):
        try:
            return str(data[loc[0]][loc[1]].get("id", ""))
        except (KeyError, IndexError, TypeError, AttributeError):
            return ""
    return str(loc[0]) if loc else ""


def _fix(err: Any) -> str:
    if err["type"] == "missing":
        return (
            "ajoutez ce champ : chaque entrée a `sources`, `verified_at` et, si elle peut "
            "changer, `review_by` (knowledge/nearby.py)"
        )
    if err["type"] == "extra_forbidden":
        return "supprimez ce champ ou corrigez son nom (faute de frappe ?)"
    if err["type"] in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return "écrivez la date au format AAAA-MM-JJ"
    return "corrigez la valeur selon knowledge/nearby.py"


def _check_file(
    parsed: NearbyFile,
    rel: str,
    node: Any,
    schemes: dict[str, Any],
    departements: set[str],
    seen: dict[str, str],
) -> list[Problem]:
    out: list[Problem] = []
    sections: list[tuple[str, list[Any]]] = [
        ("initiatives", list(parsed.initiatives)),
        ("maps", list(parsed.maps)),
        ("directories", list(parsed.directories)),
        ("calls", list(parsed.calls)),
        ("resources", list(parsed.resources)),
    ]
    for section, items in sections:
        for i, item in enumerate(items):
            at: list[Any] = [section, i]
            cited = (item.sources, parsed.sources)
            fiches = (getattr(item, "schemes", []), schemes)
            out.extend(entry_problems(rel, node, at, item.id, seen, cited, fiches))
            if isinstance(item, Initiative):
                out.extend(_check_places(item, rel, node, at, departements))
            if isinstance(item, MemberDirectory):
                out.extend(_check_directory(item, rel, node, at))
            if isinstance(item, Initiative | Call):
                epcis = item.epcis if isinstance(item, Initiative) else item.scope.epcis
                where = _line_of(node, [*at, "epcis" if isinstance(item, Initiative) else "scope"])
                out.extend(epci_problems(epcis, rel, item.id, where))
    search = parsed.aid_search
    if search is not None:
        for key in search.sources:
            if key not in parsed.sources:
                line = _line_of(node, ["aid_search"])
                out.append(
                    _unknown_source(rel, "aid_search", "la recherche", key, parsed.sources, line)
                )
        for sid in search.keywords:
            if sid not in schemes:
                out.append(
                    Problem(
                        rel,
                        "aid_search",
                        f"fiche inconnue « {sid} » dans keywords",
                        "utilisez l'id d'une fiche",
                        _line_of(node, ["aid_search"]),
                    )
                )
    return out


def _check_resources(
    parsed: NearbyFile, rel: str, node: Any, facts: dict[str, set[str]]
) -> list[Problem]:
    """A resource's régions are INSEE codes; its answers are facts and values of tree.yaml."""
    out = []
    for i, res in enumerate(parsed.resources):
        at: list[Any] = ["resources", i]
        out.extend(_unknown_regions(res, rel, node, at))
        for fact, values in res.answers.items():
            if fact not in facts:
                out.append(
                    Problem(
                        rel,
                        res.id,
                        f"réponse à une question inconnue « {fact} »",
                        "utilisez le `fact` d'une question de tree.yaml (« sector », « stage »…)",
                        _line_of(node, [*at, "answers"]),
                    )
                )
                continue
            for value in values:
                if value not in facts[fact]:
                    out.append(
                        Problem(
                            rel,
                            res.id,
                            f"réponse inconnue « {value} » pour « {fact} »",
                            f"utilisez une valeur de tree.yaml : {', '.join(sorted(facts[fact]))}",
                            _line_of(node, [*at, "answers"]),
                        )
                    )
    return out


def _check_places(
    item: Initiative, rel: str, node: Any, at: list[Any], departements: set[str]
) -> list[Problem]:
    out = []
    if not item.departements and not item.regions:
        out.append(
            Problem(
                rel,
                item.id,
                "aucun lieu",
                "ajoutez `departements` (codes INSEE) ou `regions`",
                _line_of(node, at),
            )
        )
    for code in item.departements:
        if departements and code not in departements:
            out.append(
                Problem(
                    rel,
                    item.id,
                    f"département inconnu « {code} »",
                    "utilisez un code INSEE (« 29 », « 2A », « 974 »)",
                    _line_of(node, [*at, "departements"]),
                )
            )
    out.extend(_unknown_regions(item, rel, node, at))
    return out


def _unknown_regions(
    item: Initiative | MemberDirectory | Resource, rel: str, node: Any, at: list[Any]
) -> list[Problem]:
    return [
        Problem(
            rel,
            item.id,
            f"région inconnue « {code} »",
            "utilisez un code INSEE de région (« 53 »)",
            _line_of(node, [*at, "regions"]),
        )
        for code in item.regions
        if code not in REGIONS
    ]


def _check_directory(item: MemberDirectory, rel: str, node: Any, at: list[Any]) -> list[Problem]:
    out = []
    if item.national == bool(item.regions):
        out.append(
            Problem(
                rel,
                item.id,
                "un annuaire est soit national, soit régional",
                "donnez `national: true` ou `regions` (codes INSEE), pas les deux",
                _line_of(node, at),
            )
        )
    out.extend(_unknown_regions(item, rel, node, at))
    if not item.profiles and not item.schemes:
        out.append(
            Problem(
                rel,
                item.id,
                "à qui le montrer ?",
                "ajoutez `profiles` (ex. [entreprise]) ou `schemes`",
                _line_of(node, at),
            )
        )
    return out


def nearby_review(nearby: Nearby, today: date) -> list[Problem]:
    """Past `review_by` dates and closed calls still listed: `kb check` refuses them."""
    out = []
    dated: list[Any] = [
        *nearby.initiatives,
        *nearby.directories,
        *nearby.calls,
        *nearby.resources,
    ]
    for item in dated:
        file = nearby.files.get(item.id, f"knowledge/{NEARBY_DIR}")
        if item.review_by is not None and item.review_by < today:
            out.append(
                Problem(
                    file,
                    item.id,
                    f"à revoir depuis le {item.review_by.isoformat()}",
                    "revérifiez l'entrée à sa source, puis mettez à jour `verified_at` "
                    "et `review_by` (ou supprimez-la)",
                )
            )
        if isinstance(item, Call) and item.closes is not None and item.closes < today:
            out.append(
                Problem(
                    file,
                    item.id,
                    f"appel clos le {item.closes.isoformat()}",
                    "supprimez l'appel ou indiquez la nouvelle date de clôture",
                )
            )
    return out
