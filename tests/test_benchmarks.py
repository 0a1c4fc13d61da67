"""The benchmark's verdict is honest: it names every target missed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.run import confirm, targets, verdict

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def results(**changes: float) -> dict[str, Any]:
    values = {
        "load": 0.2,
        "step": 20e-6,
        "search": 100e-6,
        "fuzzy": 200e-6,
        "resolve": 50e-6,
        "resolve_p99": 500e-6,
        "build": 0.3,
        "telegram": 2.0,
        "telegram_pg": 3.0,
    } | changes
    return {
        "load": {"load": {"median": values["load"]}},
        "step": {"step": {"median": values["step"]}},
        "search": {
            "search": {"median": values["search"]},
            "fuzzy_only": {"median": values["fuzzy"]},
        },
        "geography": {
            "resolve": {"median": values["resolve"], "p99": values["resolve_p99"]},
            "build": {"median": values["build"]},
        },
        "telegram": {
            "ratio_median": values["telegram"],
            "ratio_postgresql_median": values["telegram_pg"],
        },
    }


def test_all_met_only_when_every_target_is() -> None:
    assert verdict(results()) == f"all {len(targets(results()))} targets met"


def test_the_telegram_ratio_over_8x_is_a_missed_target_named_as_such() -> None:
    text = verdict(results(telegram=21.0))
    assert "all" not in text and "targets met" not in text
    assert text.startswith("TARGETS MISSED: 1 of 9")
    assert "Telegram step on SQLite ≤ 8x the bare echo bot (measured 21.0x" in text
    text = verdict(results(telegram_pg=9.5))
    assert "Telegram step on PostgreSQL ≤ 8x the bare echo bot (measured 9.5x" in text


def test_every_missed_target_is_named() -> None:
    text = verdict(results(step=300e-6, build=2.0, telegram=9.0))
    assert text.startswith("TARGETS MISSED: 3 of 9")
    for name in ("engine step < 100 µs", "territory index build", "Telegram step"):
        assert name in text
    gating = [name for name, met, gates in targets(results(telegram=9.0)) if gates and not met]
    assert gating == []  # the Telegram ratio alone does not fail CI (README says why)


def test_a_gating_target_missed_once_is_measured_again_before_it_fails() -> None:
    burst = results(step=104e-6)
    calm = results()
    again = {key: (lambda key=key: calm[key]) for key in ("load", "step", "search", "geography")}
    assert confirm(burst, again) == []  # met when measured again: the run passes
    assert burst["step_first_measure"]["step"]["median"] == 104e-6  # the first figure is kept
    slow = results(step=104e-6)
    still = {key: (lambda key=key: slow[key]) for key in ("load", "step", "search", "geography")}
    assert confirm(results(step=104e-6), still) == ["engine step < 100 µs"]


def test_nothing_is_measured_again_when_every_gating_target_is_met() -> None:
    def fail() -> Any:
        raise AssertionError("measured again although every gating target was met")

    again = dict.fromkeys(("load", "step", "search", "geography"), fail)
    assert confirm(results(telegram=9.0), again) == []


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_every_benchmark_script_starts_from_any_folder(script: str, tmp_path: Path) -> None:
    """As README says (`python benchmarks/<script>.py`): run from elsewhere, without the
    project on the path, each script finds its imports (tests' helpers included)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = f"import runpy; runpy.run_path({str(BENCHMARKS / script)!r}, run_name='imported')"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
