"""Typed language and places: `python benchmarks/typed.py`.

- the evaluation sets (knowledge/cases/typed.yaml, places.yaml) through the shared
  dialogue: share handled right, wrong answers recorded, wrong places taken silently;
- understanding one typed text where a question is asked (bot.dialogue.understand),
  against normalising the same text (the least any reading does);
- resolving a place (bot.territory.geography), against a postal-code dictionary lookup;
- optionally (`--lemmatizer`), the cost of lemmatising a message with simplemma, if
  installed, against the same baseline (measured before deciding not to adopt it).
Each figure in absolute time and as a ratio to its baseline, measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.dialogue.evaluation import (  # noqa: E402
    PLACES_FILE,
    TYPED_FILE,
    load_set,
    path_to,
    play_places,
    play_typed,
)
from bot.dialogue.router import Conversation  # noqa: E402
from knowledge.loader import load_knowledge, normalize  # noqa: E402


def per_call(fn: Callable[[str], object], inputs: list[str], rounds: int) -> list[float]:
    """Seconds per call; the garbage collector is off while timing, as in timeit."""
    out: list[float] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for value in inputs:
                t0 = time.perf_counter()
                fn(value)
                out.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return out


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(int(len(ordered) * 0.99) - 1, 0)]


def summary(samples: list[float], inputs: int = 0) -> dict[str, float]:
    """Median and 99th percentile of every call; with `inputs`, also the 99th percentile of
    each input's median over the rounds (the slowest inputs, without the scheduler's
    pauses of a shared machine, which hit random calls)."""
    out = {
        "median_ms": round(statistics.median(samples) * 1000, 4),
        "p99_ms": round(p99(samples) * 1000, 4),
    }
    if inputs:
        medians = [statistics.median(samples[i::inputs]) for i in range(inputs)]
        out["p99_of_input_medians_ms"] = round(p99(medians) * 1000, 4)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--lemmatizer", action="store_true")
    args = parser.parse_args()
    kb = load_knowledge()
    conversation = Conversation(kb)
    report: dict[str, object] = {}

    typed = load_set(TYPED_FILE, "messages")
    results = play_typed(conversation, typed)
    report["typed_set"] = {
        "messages": len(results),
        "right_share": round(sum(r.right for r in results) / len(results), 4),
        "wrong_answers_recorded": sum(r.wrong_answer for r in results),
    }
    places = load_set(PLACES_FILE, "places")
    outcomes = play_places(conversation.geo, places)
    report["places_set"] = {
        "queries": len(outcomes),
        "right_share": round(sum(r.right for r in outcomes) / len(outcomes), 4),
        "silent_wrong_substitutions": sum(r.wrong_taken for r in outcomes),
    }

    understanding = conversation.typed.understanding
    questions = {}
    for item in typed:
        at = str(item["at"])
        if at not in questions and at not in ("first", "result"):
            session = path_to(conversation.engine, at)
            questions[at] = conversation.engine.state(session).question if session else None
    pairs = [(str(i["text"]), questions.get(str(i["at"]))) for i in typed]
    texts = [t for t, _ in pairs]
    by_text = dict(pairs)
    reading = per_call(lambda t: understanding.read(t, by_text[t]), texts, args.rounds)
    baseline = per_call(normalize, texts, args.rounds)
    report["understand_typed_text"] = summary(reading, len(texts)) | {
        "baseline_normalize": summary(baseline),
        "ratio_median": round(statistics.median(reading) / statistics.median(baseline), 1),
    }

    geo = conversation.geo
    queries = [str(p["q"]) for p in places]
    postal = {code: c for c in geo.communes.values() for code in c.postal_codes}
    resolving = per_call(geo.resolve, queries, args.rounds)
    lookup = per_call(lambda q: postal.get(q.strip()), queries, args.rounds)
    report["resolve_place"] = summary(resolving, len(queries)) | {
        "baseline_postal_lookup": summary(lookup),
        "ratio_median": round(statistics.median(resolving) / statistics.median(lookup), 1),
    }

    if args.lemmatizer:
        try:
            import simplemma  # type: ignore[import-not-found]
        except ImportError:
            report["simplemma"] = "not installed"
        else:

            def lemmas(text: str) -> list[str]:
                return [simplemma.lemmatize(w, lang="fr") for w in normalize(text).split()]

            lemmas("chauffe")  # its dictionary loads on first use
            lemmatizing = per_call(lemmas, texts, args.rounds)
            report["simplemma"] = summary(lemmatizing) | {
                "ratio_median_to_understanding": round(
                    statistics.median(lemmatizing) / statistics.median(reading), 2
                )
            }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
