"""Print the « près de chez vous » coverage per région: `python scripts/nearby_coverage.py`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.dialogue.parts import Parts
from bot.territory.coverage import PROFILES, measure
from bot.territory.routing import in_region
from knowledge.loader import load_knowledge
from knowledge.schema import REGIONS


def main() -> int:
    parts = Parts(load_knowledge())
    ok = True
    for profile in PROFILES:
        coverage = measure(parts, profile)
        t = coverage.total
        print(f"profil {profile} : {t.places} lieux (un par département)")
        print(
            f"  initiative nommée ou « aucune connue » : {t.initiatives}/{t.places}"
            f" (dont au moins une nommée : {t.named})"
        )
        print(
            f"  lien filtré vers les aides ouvertes   : {t.aids}/{t.places}"
            f" (filtré aussi par territoire : {t.aids_by_place})"
        )
        print(
            f"  service ESS de la Région nommé         : {t.region_service}/{t.places}"
            f" (avec site sourcé : {t.region_site})"
        )
        print(f"  message le plus long                   : {t.longest} caractères")
        if profile == PROFILES[0]:
            print("  par région (lieux · complets · une initiative nommée · site de la Région) :")
            for code, c in sorted(coverage.regions.items(), key=lambda kv: REGIONS[kv[0]]):
                print(
                    f"    {in_region(code):38} {c.places:>3} · {c.complete:>3} · {c.named:>3}"
                    f" · {c.region_site:>3}"
                )
        ok = ok and t.initiatives == t.aids == t.region_service == t.places
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
