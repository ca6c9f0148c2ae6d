"""Experiments: an index of the experiments run (`curate run experiments/NAME.yaml`) and one
comparison page each: score and response length against step per benchmark group with a line
per arm (the dip and recovery at a glance), the same per benchmark, the TI table per
checkpoint, the probes of each arm's final model side by side, and under every figure the SQL
and row ids it was drawn from. The data come from `curate.experiments.compare`."""

from __future__ import annotations

from typing import Any

from curate.dashboard.charts import Series, line_chart
from curate.dashboard.pages.probes import png_uri
from curate.dashboard.site import Card, Page, run_href, slug

NAV = ("Experiments", "experiments.html")


def experiment_href(name: str) -> str:
    return f"experiment-{slug(name)}.html"


def _list(site) -> list[dict[str, Any]]:
    from curate.experiments.compare import experiments

    return site.cached("experiments", lambda: experiments(site.catalog))


def _charts(series: list[dict[str, Any]], key: str, label: str) -> list[dict[str, Any]]:
    """One score chart and one length chart per `key` value (group or benchmark), a line per
    arm, each with the ids of the eval rows behind it."""
    out = []
    for value in dict.fromkeys(s[key] for s in series):
        ss = [s for s in series if s[key] == value]
        score = line_chart([Series(s["arm"], s["steps"], s["score"]) for s in ss],
                           title=f"{label} {value}: score against step", x_label="step",
                           y_label="score (%)", y_zero=True)
        length = line_chart([Series(s["arm"], s["steps"], s["tokens"]) for s in ss],
                            title=f"{label} {value}: response length against step",
                            x_label="step", y_label="mean response tokens", y_zero=True)
        out.append({"name": value, "charts": [score, length],
                    "ids": [i for s in ss for i in s["ids"]],
                    "benchmarks": sorted({b for s in ss for b in s.get("benchmarks", [])}),
                    "dips": [{"arm": s["arm"], **{k: s["dip"].get(k) for k in (
                        "first", "lowest", "lowest_step", "last", "recovered",
                        "longest_tokens", "longest_step")}} for s in ss if s.get("dip")]})
    return out


def _probe_grid(probes: list[dict[str, Any]], arms: list[str]) -> list[dict[str, Any]]:
    """Rows per probe, a cell per arm (figures, plot, ids): the arms side by side."""
    out = []
    for probe in dict.fromkeys(p["probe"] for p in probes):
        cells = []
        for arm in arms:
            p = next((x for x in probes if x["probe"] == probe and x["arm"] == arm), None)
            cells.append(None if p is None else {
                **p, "plot": png_uri(p["plot_path"]),
                "rows": [{"figure": k, "value": v} for k, v in p["figures"].items()]})
        out.append({"probe": probe, "cells": cells})
    return out


def context(site, name: str) -> dict[str, Any]:
    from curate.experiments.compare import comparison

    c = comparison(site.catalog, name)
    ti_rows = [{"arm": t["arm"], "step": t["step"], "formula": t["formula"],
                "TI_other": t["TI_other"], "TI_non": t["TI_non"],
                "note": t["reason"] or "", "probe": t["probe_id"]} for t in c["ti"]]
    return {"c": c, "groups": _charts(c["series"]["by_group"], "group", "group"),
            "benchmarks": _charts(c["series"]["by_benchmark"], "benchmark", "benchmark"),
            "ti_rows": ti_rows, "probe_grid": _probe_grid(c["probes"], c["arms"]),
            "run_href": run_href(c["run"]["id"]) if c["run"].get("id") else None}


def card(site) -> Card:
    rows = [{"experiment": e["name"], "status": e["status"], "arms": ", ".join(e["arms"]),
             "started": e["started"], "_href": experiment_href(e["name"])}
            for e in _list(site)]
    return Card("Experiments", NAV[1], ["experiment", "status", "arms", "started"], rows[:8],
                total=len(rows), empty="no experiments yet: curate run experiments/NAME.yaml")


def pages(site):
    items = _list(site)
    rows = [{"experiment": e["name"], "status": e["status"], "arms": ", ".join(e["arms"]),
             "runs": e["runs"], "started": e["started"], "description": e["description"],
             "_href": experiment_href(e["name"])} for e in items]
    yield Page("experiments.html", "Experiments", "experiments.html", {"rows": rows},
               section=NAV[0])
    for e in items:
        yield Page(experiment_href(e["name"]), f"Experiment {e['name']}", "experiment.html",
                   context(site, e["name"]), section=NAV[0])
