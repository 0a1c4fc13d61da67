"""Regenerate knowledge/geo/france.json.gz from INSEE's geographic code, as packaged by Etalab.

    python scripts/build_geography.py            # the edition pinned below
    python scripts/build_geography.py 6.1.0      # a newer edition

It runs `npm pack @etalab/decoupage-administratif@VERSION` (the npm registry only), reads
the regions, départements and current communes (plus the Paris/Lyon/Marseille
arrondissements, whose postal codes people type), and the former communes the package
knows by name (communes déléguées and associées, with the commune they belong to today),
and the EPCI (intercommunalités à fiscalité propre: SIREN, name, member communes; an
arrondissement belongs to its city's EPCI), and writes a compact, committed file.
Communes merged without keeping a delegated status (Florac, in Florac-Trois-Rivières since
2016) are not in the package by their old name: only their old INSEE code (`anciensCodes`)
is, which people do not type.
Data: Licence Ouverte / Open Licence, credit Etalab (code officiel géographique, INSEE).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@etalab/decoupage-administratif"
EDITION = "6.0.0"  # 2026 edition of the code officiel géographique
OUT = Path(__file__).resolve().parent.parent / "knowledge" / "geo" / "france.json.gz"


def build(version: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{version}", "--silent"],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp, filter="data")
        data = Path(tmp) / "package" / "data"
        regions = json.loads((data / "regions.json").read_text(encoding="utf-8"))
        deps = json.loads((data / "departements.json").read_text(encoding="utf-8"))
        communes = json.loads((data / "communes.json").read_text(encoding="utf-8"))
        epcis = json.loads((data / "epci.json").read_text(encoding="utf-8"))
    epci_of = {m["code"]: e["code"] for e in epcis for m in e["membres"]}
    rows = []
    current = {c["code"]: c for c in communes if c["type"] == "commune-actuelle"}
    former = sorted(
        {
            (c["nom"], c["chefLieu"])
            for c in communes
            if c["type"] in ("commune-deleguee", "commune-associee")
            and c.get("chefLieu") in current
            and c["nom"] != current[c["chefLieu"]]["nom"]
        }
    )
    for c in communes:
        if c["type"] not in ("commune-actuelle", "arrondissement-municipal"):
            continue
        rows.append(
            [
                c["code"],
                c["nom"],
                c["departement"],
                c.get("codesPostaux", []),
                c.get("population") or 0,
                # the SIREN of its EPCI; "" when in none (four single-commune islands,
                # the overseas collectivités)
                epci_of.get(c.get("commune") or c["code"], ""),
            ]
        )
    rows.sort(key=lambda r: r[0])
    return {
        "source": f"{PACKAGE}@{version} (code officiel géographique INSEE)",
        "licence": "Licence Ouverte / Open Licence — Etalab",
        "regions": {r["code"]: r["nom"] for r in regions},
        "departements": {d["code"]: [d["nom"], d["region"]] for d in deps},
        "epcis": {e["code"]: e["nom"] for e in sorted(epcis, key=lambda e: e["code"])},
        "communes": rows,
        "former": [list(pair) for pair in former],
    }


def main() -> int:
    version = sys.argv[1] if len(sys.argv) > 1 else EDITION
    payload = build(version)
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(gzip.compress(raw, mtime=0))
    print(
        f"{OUT}: {len(payload['communes'])} communes, "  # type: ignore[arg-type]
        f"{len(payload['departements'])} départements, "  # type: ignore[arg-type]
        f"{len(payload['former'])} anciennes communes, "  # type: ignore[arg-type]
        f"{len(payload['epcis'])} EPCI, "  # type: ignore[arg-type]
        f"{OUT.stat().st_size // 1024} KiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
