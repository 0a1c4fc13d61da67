"""Benchmarks of the foundation: one command, `python benchmarks/run.py`.

Each figure is reported in absolute time and as a ratio to a baseline measured in the
same run, because machines here are noisy:
- knowledge base load + validation, against parsing the same YAML files without validation;
- one engine step (answer in, next question out), against a JSON round trip of the session
  (the least any channel must do to store a step);
- scheme search, against an exact dictionary lookup of the normalized query;
- territory resolution, against a postal-code dictionary lookup;
- the Telegram bot (benchmarks/telegram_bot.py): one orientation step through the real
  Application, against a bare python-telegram-bot echo bot; memory after N conversations;
- lead delivery (benchmarks/outbox.py): outbox throughput on SQLite and PostgreSQL against
  direct signed POSTs, and the time from consent to delivery.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bot.orientation.cases import asked_answers  # noqa: E402
from bot.orientation.engine import Engine, Session  # noqa: E402
from bot.orientation.search import SchemeSearch  # noqa: E402
from knowledge.loader import KNOWLEDGE_DIR, load_cases, load_knowledge, normalize  # noqa: E402

PARSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the parser the loader uses

QUERIES = [
    "scic",
    "SCOP",
    "cooperative d'activite",
    "zero chomeur",
    "bail commercial utilite sociale",
    "sicc",
    "tiers-lieu",
    "coopérative",
    "xylophone quantique",
    "joint venture sociale",
    "espace test agricole",
    "agrement esus",
    "mécénat de compétences",
    "groupement",
]


def timings(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def summary(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "median": statistics.median(s),
        "p99": s[min(len(s) - 1, int(len(s) * 0.99))],
        "mean": statistics.fmean(s),
        "n": len(s),
    }


def bench_load(repeat: int) -> dict[str, object]:
    files = [*sorted((KNOWLEDGE_DIR / "schemes").glob("*.yaml")), KNOWLEDGE_DIR / "tree.yaml"]

    def parse_only() -> None:
        for f in files:
            yaml.load(f.read_text(encoding="utf-8"), Loader=PARSER)

    def full() -> None:
        kb = load_knowledge()
        _ = kb.stats  # paths, longest path: part of the check

    base = summary(timings(parse_only, repeat))
    load = summary(timings(full, repeat))
    return {"load": load, "baseline_yaml_parse": base, "ratio": load["median"] / base["median"]}


def bench_step(repeat: int) -> dict[str, object]:
    kb = load_knowledge()
    engine = Engine(kb)
    paths = [list(asked_answers(engine, case)) for _, case in load_cases()]
    step_samples: list[float] = []
    base_samples: list[float] = []
    for _ in range(repeat):
        # one engine per knowledge base, as in the bot (the bounds it derives from the tree
        # are kept); its caches of answer logs and of decisive checks emptied at each round,
        # so that each figure is a step computed from nothing
        engine._derived.clear()
        engine.settler._decisions.clear()
        for answers in paths:
            session = Session()
            for qid, value in answers:
                t0 = time.perf_counter()
                session = engine.answer(session, qid, value)
                state = engine.state(session)
                if state.finished:
                    engine.result(state)
                step_samples.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                Session.from_json(session.to_json())
                base_samples.append(time.perf_counter() - t0)
    step, base = summary(step_samples), summary(base_samples)
    return {"step": step, "baseline_json_roundtrip": base, "ratio": step["median"] / base["median"]}


def bench_search(repeat: int) -> dict[str, object]:
    kb = load_knowledge()
    search = SchemeSearch(kb)
    exact = {normalize(s.short_name): s for s in kb.schemes.values()}
    fuzzy_queries = [q for q in QUERIES if normalize(q) not in search._exact]
    samples: list[float] = []
    fuzzy: list[float] = []
    base: list[float] = []
    for _ in range(repeat):
        for q in QUERIES:
            t0 = time.perf_counter()
            search.search(q)
            elapsed = time.perf_counter() - t0
            samples.append(elapsed)
            if q in fuzzy_queries:
                fuzzy.append(elapsed)
            t0 = time.perf_counter()
            exact.get(normalize(q))
            base.append(time.perf_counter() - t0)
    s, f, b = summary(samples), summary(fuzzy), summary(base)
    return {
        "search": s,
        "fuzzy_only": f,
        "fuzzy_queries": fuzzy_queries,
        "baseline_exact_lookup": b,
        "ratio": s["median"] / b["median"],
        "fuzzy_ratio": f["median"] / b["median"],
    }


def bench_geography(repeat: int) -> dict[str, object]:
    import random
    import tracemalloc

    from bot.territory.geography import Geography

    builds = timings(Geography, max(3, repeat // 50))
    tracemalloc.start()
    geo = Geography()
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    rng = random.Random(2026)  # the same queries every run
    communes = list(geo.communes.values())
    postals = sorted({p for c in communes for p in c.postal_codes})
    names = [c.name for c in rng.sample(communes, 300)]

    def typo(name: str) -> str:
        i = rng.randrange(1, max(2, len(name) - 1))
        return name[:i] + name[i + 1 :]

    queries = (
        rng.sample(postals, 300)
        + names
        + [typo(n) for n in names[:200]]
        + [name.lower().replace("saint-", "st ") for name in names[:100]]
        + sorted(geo.departements)
        + [d[0] for d in geo.departements.values()]
        + list(geo.regions.values())
        + ["xyzzy", "n'importe quoi", "Saint-Denis", "20", "01200"]
    )
    samples: list[float] = []
    base: list[float] = []
    postal_index = {p: True for p in postals}
    rounds = max(1, repeat // 20)
    for _ in range(rounds):
        for q in queries:
            t0 = time.perf_counter()
            geo.resolve(q)
            samples.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            postal_index.get(q.strip())
            base.append(time.perf_counter() - t0)
    r, b, build = summary(samples), summary(base), summary(builds)
    return {
        "resolve": r,
        "build": build,
        "index_memory_mib": memory / 2**20,
        "queries": len(queries),
        "baseline_dict_lookup": b,
        "ratio": r["median"] / b["median"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (for CI)")
    args = parser.parse_args()
    reps = (
        {"load": 5, "step": 20, "search": 20}
        if args.quick
        else {"load": 20, "step": 200, "search": 200}
    )

    results = {
        "load": bench_load(reps["load"]),
        "step": bench_step(reps["step"]),
        "search": bench_search(reps["search"]),
        "geography": bench_geography(reps["search"]),
    }
    load, step, search = results["load"], results["step"], results["search"]
    ms, us = 1e3, 1e6
    print("Boussole benchmarks (median / p99; ratio = median / baseline median, same run)")
    print(
        f"  knowledge load + check : {load['load']['median'] * ms:8.1f} ms / "
        f"{load['load']['p99'] * ms:.1f} ms   target < 1000 ms   "
        f"ratio to YAML parse alone: {load['ratio']:.2f}x"
    )
    print(
        f"  engine step            : {step['step']['median'] * us:8.1f} µs / "
        f"{step['step']['p99'] * us:.1f} µs   target < 100 µs    "
        f"ratio to JSON round trip: {step['ratio']:.1f}x"
    )
    print(
        f"  scheme search          : {search['search']['median'] * us:8.1f} µs / "
        f"{search['search']['p99'] * us:.1f} µs   target < 1000 µs   "
        f"ratio to exact lookup: {search['ratio']:.1f}x"
    )
    print(
        f"    fuzzy queries only   : {search['fuzzy_only']['median'] * us:8.1f} µs / "
        f"{search['fuzzy_only']['p99'] * us:.1f} µs   "
        f"({len(search['fuzzy_queries'])} of {len(QUERIES)} queries)      "
        f"ratio to exact lookup: {search['fuzzy_ratio']:.1f}x"
    )
    geo = results["geography"]
    print(
        f"  territory resolution   : {geo['resolve']['median'] * us:8.1f} µs / "
        f"{geo['resolve']['p99'] * us:.1f} µs   target < 1000 / 5000 µs   "
        f"ratio to a postal-code dict lookup: {geo['ratio']:.0f}x ({geo['queries']} queries)"
    )
    print(
        f"  territory index build  : {geo['build']['median'] * ms:8.1f} ms   target < 1000 ms   "
        f"index memory: {geo['index_memory_mib']:.1f} MiB"
    )
    from benchmarks.telegram_bot import bench_telegram, report

    kb = load_knowledge()
    telegram = bench_telegram(kb, 400 if args.quick else 2000, 1000 if args.quick else 10_000)
    results["telegram"] = telegram
    report(telegram)
    from benchmarks.outbox import bench_outbox
    from benchmarks.outbox import report as report_outbox

    results["outbox"] = bench_outbox(kb, 100 if args.quick else 1000, 10 if args.quick else 50)
    report_outbox(results["outbox"])
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    again = {
        "load": lambda: bench_load(20),
        "step": lambda: bench_step(200),
        "search": lambda: bench_search(200),
        "geography": lambda: bench_geography(200),
    }
    gating = confirm(results, again)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(verdict(results))
    return 1 if gating else 0


def confirm(results: dict[str, Any], again: dict[str, Callable[[], Any]]) -> list[str]:
    """The gating targets missed, after measuring once more, with the full repetitions, the
    figures a missed target reads (a shared machine has bursts of load). Both measures stay
    in `results` (the first under `<figure>_first_measure`) and both are printed."""
    gating = [name for name, met, gates in targets(results) if gates and not met]
    if not gating:
        return []
    print(f"missed in this run, measured again: {'; '.join(gating)}")
    for key, bench in again.items():
        results[f"{key}_first_measure"] = results[key]
        results[key] = bench()
    missed = [name for name, met, gates in targets(results) if gates and not met]
    for name in gating:
        print(f"  {name}: {'still missed' if name in missed else 'met when measured again'}")
    return missed


def targets(results: dict[str, Any]) -> list[tuple[str, bool, bool]]:
    """Every target: what it says, whether it is met, whether missing it fails CI."""
    from benchmarks.telegram_bot import TARGET_RATIO

    load, step, search = results["load"], results["step"], results["search"]
    geo, telegram = results["geography"], results["telegram"]
    return [
        ("knowledge load + check < 1000 ms", load["load"]["median"] < 1.0, True),
        ("engine step < 100 µs", step["step"]["median"] < 100e-6, True),
        ("scheme search < 1000 µs", search["search"]["median"] < 1e-3, True),
        ("fuzzy scheme search < 1000 µs", search["fuzzy_only"]["median"] < 1e-3, True),
        ("territory resolution median < 1000 µs", geo["resolve"]["median"] < 1e-3, True),
        ("territory resolution p99 < 5000 µs", geo["resolve"]["p99"] < 5e-3, True),
        ("territory index build < 1000 ms", geo["build"]["median"] < 1.0, True),
    ] + [
        (
            f"Telegram step on {name} ≤ {TARGET_RATIO:g}x the bare echo bot (measured "
            f"{telegram[key]:.1f}x; not gating CI, see README « Performances »)",
            telegram[key] <= TARGET_RATIO,
            False,
        )
        for name, key in (("SQLite", "ratio_median"), ("PostgreSQL", "ratio_postgresql_median"))
        if key in telegram
    ]


def verdict(results: dict[str, Any]) -> str:
    """« all N targets met » only when every one is; otherwise each missed one, named."""
    checked = targets(results)
    missed = [name for name, met, _ in checked if not met]
    if not missed:
        return f"all {len(checked)} targets met"
    lines = [f"TARGETS MISSED: {len(missed)} of {len(checked)}"]
    lines += [f"  ✗ {name}" for name in missed]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
