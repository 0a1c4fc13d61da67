"""Measure the « près de chez vous » block over one place per département (issue 21).

For each département, its most populous commune; for each profile, the « près de chez vous »
message a person reads after the result. A place is covered when the text names at least one
initiative or says « aucune initiative connue », links to Aides-territoires' filtered search,
and names the Région's ESS service. `python scripts/nearby_coverage.py` prints the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import escape

from bot.dialogue.parts import Parts
from bot.territory.geography import Candidate
from bot.territory.routing import effective_profile
from knowledge.schema import REGIONS

PROFILES = ("collectivite", "association", "entreprise", "porteur")


@dataclass
class Count:
    places: int = 0
    initiatives: int = 0  # names at least one initiative or says « aucune connue »
    named: int = 0  # names at least one initiative (not only « aucune connue »)
    aids: int = 0
    aids_by_place: int = 0
    region_service: int = 0
    region_site: int = 0
    longest: int = 0

    @property
    def complete(self) -> int:
        return min(self.initiatives, self.aids, self.region_service)


@dataclass
class Coverage:
    regions: dict[str, Count] = field(default_factory=dict)

    @property
    def total(self) -> Count:
        out = Count()
        for c in self.regions.values():
            for name in ("places", "initiatives", "named", "aids", "aids_by_place"):
                setattr(out, name, getattr(out, name) + getattr(c, name))
            out.region_service += c.region_service
            out.region_site += c.region_site
            out.longest = max(out.longest, c.longest)
        return out


def places(parts: Parts) -> list[Candidate]:
    """The most populous commune of each département."""
    geo = parts.geo
    best: dict[str, tuple[int, str]] = {}
    for commune in geo.communes.values():
        if commune.population > best.get(commune.dep, (-1, ""))[0]:
            best[commune.dep] = (commune.population, commune.code)
    out = []
    for dep in sorted(geo.departements):
        if dep in best and geo.departements[dep][1] in REGIONS:  # the 101 départements
            place = geo.from_key(f"c:{best[dep][1]}")
            if place is not None:
                out.append(place)
    return out


def measure(parts: Parts, profile: str = "collectivite") -> Coverage:
    coverage = Coverage({code: Count() for code in REGIONS})
    for place in places(parts):
        facts: dict[str, str | None] = {"profile": profile}
        who = effective_profile(facts)
        nearby = parts.nearby.find(place, who, None, [])
        text = parts.renderer.render("nearby.j2", nearby=nearby)
        count = coverage.regions[place.region.code]
        count.places += 1
        names = [str(escape(i.name)) for g in nearby.groups for i in g.items]
        named = any(n in text for n in names)
        count.named += named
        count.initiatives += named or "aucune initiative connue" in text
        count.aids += bool(nearby.aids_url) and nearby.aids_url.replace("&", "&amp;") in text
        count.aids_by_place += nearby.aids_by_place
        service = nearby.region_service
        count.region_service += service is not None and str(escape(service.name)) in text
        count.region_site += service is not None and service.website is not None
        count.longest = max(count.longest, len(text))
    return coverage
