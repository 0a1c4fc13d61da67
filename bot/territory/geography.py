"""Resolve what a person types into a commune, a département and a région, offline.

A commune also knows its EPCI (its intercommunalité: SIREN code and name), so that a contact
whose real area is an intercommunalité can be matched; a département or a région has none.

Postal codes, département numbers and names, commune names with accents, hyphens and
abbreviations ("St", "Ste", "s/", "Clermont-Fd"), former communes (déléguées, associées:
today's commune), région names. Only an exact name is taken: a name matched approximately
(a typo) or by its beginning is proposed, never substituted (status "approximate"). When
the answer is ambiguous (homonymous communes, a postal code over two départements, "20"
or "Corse") every candidate is returned so the channel can ask instead of guessing.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from rapidfuzz import fuzz, process

from knowledge.loader import KNOWLEDGE_DIR, normalize

GEO_FILE = KNOWLEDGE_DIR / "geo" / "france.json.gz"
MAX_CANDIDATES = 8
#: how many approximate names are proposed
MAX_PROPOSED = 4
FUZZY_CUTOFF = 84.0

ABBREVIATIONS = {
    "st": "saint",
    "ste": "sainte",
    "sts": "saints",
    "stes": "saintes",
    "s": "sur",  # "Boulogne-s/-Mer"
    "fd": "ferrand",  # "Clermont-Fd"
    "mt": "mont",
}
#: the région whose name is not enough to route: its two départements are asked
CORSE = "94"
#: how much worse than the best approximate name another one may be and still be proposed
NEAR = 5.0
#: the score of a commune found by the beginning of its name ("Florac" → Florac-Trois-Rivières)
PREFIX_SCORE = 95.0
#: a beginning shared by more names than this says nothing ("saint", "la")
PREFIX_MAX = 6
ARTICLES = ("l ", "le ", "la ", "les ")
Level = Literal["commune", "departement", "region"]


def name_key(text: str) -> str:
    """Normalized name: accents, case, hyphens, "St" and "Ste" do not matter."""
    words = normalize(text).split()
    return " ".join(ABBREVIATIONS.get(w, w) for w in words)


_ARRONDISSEMENT = re.compile(r"^(.*) (\d+)(?:er|e) arrondissement$")


def _variants(name: str) -> set[str]:
    key = name_key(name)
    out = {key}
    district = _ARRONDISSEMENT.match(key)
    if district:  # "Paris 18e Arrondissement": people type "paris 18" or "paris 18e"
        city, number = district.groups()
        out |= {f"{city} {number}", f"{city} {number}e", f"{city} {number}er"}
    for article in ARTICLES:
        if key.startswith(article):
            out.add(key[len(article) :])
    return out


@dataclass(frozen=True)
class Place:
    code: str
    name: str


@dataclass(frozen=True)
class Candidate:
    level: Level
    departement: Place | None
    region: Place
    commune: Place | None = None
    postal_code: str | None = None
    score: float = 100.0
    #: the commune's EPCI (SIREN, name); None for a département, a région or a commune in none
    epci: Place | None = None

    @property
    def label(self) -> str:
        if self.commune is not None and self.departement is not None:
            return f"{self.commune.name} ({self.departement.code})"
        if self.departement is not None:
            return f"{self.departement.name} ({self.departement.code})"
        return self.region.name

    @property
    def key(self) -> str:
        """A compact, stable id: c:14167, d:62 or r:32."""
        if self.commune is not None:
            return f"c:{self.commune.code}"
        if self.departement is not None:
            return f"d:{self.departement.code}"
        return f"r:{self.region.code}"


@dataclass
class Resolution:
    query: str
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def status(self) -> Literal["found", "ambiguous", "approximate", "not_found"]:
        """Found when routing is settled: one région, and at most one département, named
        exactly; approximate when the names are only close (to propose, never to take)."""
        if not self.candidates:
            return "not_found"
        if any(c.score < 100 for c in self.candidates):
            return "approximate"
        regions = {c.region.code for c in self.candidates}
        deps = {c.departement.code for c in self.candidates if c.departement}
        return "found" if len(regions) == 1 and len(deps) <= 1 else "ambiguous"

    @property
    def best(self) -> Candidate | None:
        """The most precise candidate when the territory is settled."""
        if self.status != "found":
            return None
        order = {"commune": 0, "departement": 1, "region": 2}
        return min(self.candidates, key=lambda c: order[c.level])

    def as_dict(self) -> dict[str, object]:
        return {
            "query": self.query,
            "status": self.status,
            "candidates": [asdict(c) | {"key": c.key, "label": c.label} for c in self.candidates],
        }


@dataclass(frozen=True)
class _Commune:
    code: str
    name: str
    dep: str
    postal_codes: tuple[str, ...]
    population: int
    epci: str | None = None  # SIREN of its EPCI


class Geography:
    def __init__(self, path: Path = GEO_FILE) -> None:
        data = json.loads(gzip.decompress(path.read_bytes()))
        self.source: str = data["source"]
        self.regions: dict[str, str] = data["regions"]
        self.departements: dict[str, tuple[str, str]] = {
            code: (name, region) for code, (name, region) in data["departements"].items()
        }
        #: EPCI by SIREN: their names
        self.epcis: dict[str, str] = data.get("epcis", {})
        siren = {code: code for code in self.epcis}  # one string per EPCI, shared by its communes
        self.communes: dict[str, _Commune] = {}
        self._by_postal: dict[str, list[_Commune]] = {}
        self._by_name: dict[str, list[_Commune]] = {}
        for code, name, dep, postals, population, *epci in data["communes"]:
            commune = _Commune(
                code, name, dep, tuple(postals), population, siren.get(epci[0]) if epci else None
            )
            self.communes[code] = commune
            for postal in postals:
                self._by_postal.setdefault(postal, []).append(commune)
            for key in _variants(name):
                self._by_name.setdefault(key, []).append(commune)
        for name, today in data.get("former", []):
            merged_into = self.communes.get(today)
            if merged_into is None:
                continue
            for key in _variants(name):
                homonyms = self._by_name.setdefault(key, [])
                if merged_into not in homonyms:
                    homonyms.append(merged_into)
        for homonyms in self._by_name.values():
            homonyms.sort(key=lambda c: -c.population)
        #: names by first word, for the communes found by the beginning of their name
        self._by_first: dict[str, list[str]] = {}
        for key in self._by_name:
            words = key.split(" ")
            for size in (1, 2):  # by the first word, and by the first two
                if len(words) > size:
                    self._by_first.setdefault(" ".join(words[:size]), []).append(key)
        self._dep_names = {name_key(name): code for code, (name, _) in self.departements.items()}
        self._region_names = {name_key(name): code for code, name in self.regions.items()}
        # fuzzy search is bucketed by first letter (typos rarely hit it) and by length (a
        # name much longer or shorter than the query cannot be close enough)
        self._buckets: dict[tuple[str, int], list[str]] = {}
        for key in {*self._by_name, *self._dep_names, *self._region_names}:
            self._buckets.setdefault((key[:1], len(key)), []).append(key)

    # ------------------------------------------------------------------ building blocks

    def region_place(self, code: str) -> Place:
        return Place(code, self.regions[code])

    def dep_candidate(self, code: str, score: float = 100.0) -> Candidate:
        name, region = self.departements[code]
        return Candidate("departement", Place(code, name), self.region_place(region), score=score)

    def commune_candidate(
        self, commune: _Commune, postal: str | None = None, score: float = 100.0
    ) -> Candidate:
        dep_name, region = self.departements[commune.dep]
        postal = postal or (commune.postal_codes[0] if len(commune.postal_codes) == 1 else None)
        return Candidate(
            "commune",
            Place(commune.dep, dep_name),
            self.region_place(region),
            Place(commune.code, commune.name),
            postal,
            score,
            Place(commune.epci, self.epcis[commune.epci]) if commune.epci else None,
        )

    def from_key(self, key: str) -> Candidate | None:
        """Back from a Candidate.key (stored in a session or a button)."""
        kind, _, code = key.partition(":")
        if kind == "c" and code in self.communes:
            return self.commune_candidate(self.communes[code])
        if kind == "d" and code in self.departements:
            return self.dep_candidate(code)
        if kind == "r" and code in self.regions:
            return Candidate("region", None, self.region_place(code))
        return None

    # ------------------------------------------------------------------ resolve

    def resolve(self, text: str) -> Resolution:
        query = (text or "").strip()[:120]
        result = Resolution(query)
        compact = query.replace(" ", "").upper()
        postal = re.search(r"\b(\d{5})\b", query)
        if postal:
            result.candidates = self._postal(postal.group(1), query)
            if result.candidates:
                return result
        if re.fullmatch(r"\d{2,3}|2[AB]", compact):
            result.candidates = self._dep_code(compact)
            return result
        key = name_key(query)
        if len(key) < 2:
            return result
        result.candidates = self._exact(key) or self._approximate(key)
        return result

    def _postal(self, code: str, query: str) -> list[Candidate]:
        communes = self._by_postal.get(code, [])
        if not communes and code in self.communes:  # an INSEE code typed instead
            communes = [self.communes[code]]
        rest = name_key(query.replace(code, " "))
        if rest:  # "59000 Lille": keep the communes that match the name too
            named = [c for c in communes if rest in _variants(c.name)]
            communes = named or communes
        districts = {c.code for c in communes if _ARRONDISSEMENT.match(name_key(c.name))}
        if districts:  # 75018 is Paris 18e: the arrondissement is more precise than Paris
            communes = [c for c in communes if c.code in districts]
        ranked = sorted(communes, key=lambda c: -c.population)[:MAX_CANDIDATES]
        return [self.commune_candidate(c, code) for c in ranked]

    def _dep_code(self, code: str) -> list[Candidate]:
        code = code.zfill(2) if code.isdigit() and len(code) == 1 else code
        if code == "20":  # Corsica was split into 2A and 2B
            return [self.dep_candidate("2A"), self.dep_candidate("2B")]
        if code in self.departements:
            return [self.dep_candidate(code)]
        return []

    def _exact(self, key: str) -> list[Candidate]:
        out: list[Candidate] = []
        if key in self._region_names:
            code = self._region_names[key]
            if code == CORSE:  # two départements: which one is a real question
                return [self.dep_candidate("2A"), self.dep_candidate("2B")]
            out.append(Candidate("region", None, self.region_place(code)))
        if key in self._dep_names:
            out.append(self.dep_candidate(self._dep_names[key]))
        if out:  # "Bretagne", "La Réunion": the région or département, not a hamlet
            return out
        for commune in self._by_name.get(key, [])[:MAX_CANDIDATES]:
            candidate = self.commune_candidate(commune)
            if not any(
                c.level == "departement" and c.departement == candidate.departement for c in out
            ):
                out.append(candidate)
        return out[:MAX_CANDIDATES]

    def _approximate(self, key: str) -> list[Candidate]:
        """Names close to the query, or beginning with it: the closest first, then the
        most populated (to propose, never to take)."""
        scored: dict[str, float] = {}
        # ratio ≥ cutoff needs lengths within this much of each other
        spread = int(len(key) * (100 - FUZZY_CUTOFF) / FUZZY_CUTOFF) + 1
        bucket = [
            name
            for size in range(max(len(key) - spread, 1), len(key) + spread + 1)
            for name in self._buckets.get((key[:1], size), [])
        ]
        for name, score, _ in process.extract(
            key, bucket, scorer=fuzz.ratio, limit=8, score_cutoff=FUZZY_CUTOFF
        ):
            scored[name] = score
        if len(key) >= 4:
            first = " ".join(key.split(" ")[:2])
            starting = [n for n in self._by_first.get(first, []) if n.startswith(key + " ")]
            for name in starting if len(starting) <= PREFIX_MAX else []:
                scored[name] = max(scored.get(name, 0.0), PREFIX_SCORE)
        if not scored:
            return []
        best = max(scored.values())
        ranked: list[tuple[float, int, Candidate]] = []
        for name, score in scored.items():
            if score < best - NEAR:
                continue
            for candidate in self._exact(name):
                population = 0
                if candidate.commune is not None:
                    population = self.communes[candidate.commune.code].population
                else:
                    population = 10**9  # a département or a région first among equals
                ranked.append((score, population, replace(candidate, score=round(score, 1))))
        ranked.sort(key=lambda item: (-item[0], -item[1]))
        out: list[Candidate] = []
        for _, _, candidate in ranked:
            if candidate not in out:
                out.append(candidate)
        return out[:MAX_PROPOSED]

    def departement_list(self) -> list[Candidate]:
        return [self.dep_candidate(code) for code in sorted(self.departements)]
