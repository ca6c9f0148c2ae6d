"""Every public entry point of the library says what it takes and returns, what it raises and
shows an example (a notebook user reads `help(...)`, not the source)."""

from __future__ import annotations

import importlib
import inspect

import pytest

ENTRY_POINTS = [
    "curate.catalog.catalog:Catalog",
    "curate.catalog.importing:import_file",
    "curate.catalog.importing:import_hf",
    "curate.catalog.export:export_dataset",
    "curate.catalog.publish:publish",
    "curate.corpora.prompts:load_prompts",
    "curate.curation.generate:generate_traces",
    "curate.curation.countdown_generate:generate_countdown",
    "curate.curation.verify:verify_dataset",
    "curate.curation.filters:filter_dataset",
    "curate.curation.dedup:dedup_dataset",
    "curate.curation.decontaminate:decontaminate_dataset",
    "curate.curation.variants:make_variant",
    "curate.training.mixtures:build_mixture",
    "curate.training.sft:train_sft",
    "curate.training.grpo:train_grpo",
    "curate.probes.evaluation:evaluate",
    "curate.probes.runner:run_ti",
    "curate.probes.runner:run_shift_probe",
    "curate.probes.coverage:coverage_report",
    "curate.dashboard:write_dashboard",
    "curate.experiments.spec:load_experiment",
    "curate.experiments.runner:run_experiment",
    "curate.experiments.compare:comparison",
]


def _targets():
    for ep in ENTRY_POINTS:
        mod, name = ep.split(":")
        obj = getattr(importlib.import_module(mod), name)
        if inspect.isclass(obj):
            for m, fn in vars(obj).items():
                if not m.startswith("_") and inspect.isfunction(fn):
                    yield f"{ep}.{m}", fn
            yield ep, obj
        else:
            yield ep, obj


@pytest.mark.parametrize("name,obj", list(_targets()), ids=lambda x: x if isinstance(x, str)
                         else "")
def test_public_docstring_has_example_and_errors(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert len(doc) > 60, f"{name}: no real docstring"
    assert "Example" in doc, f"{name}: no example"
    if inspect.isfunction(obj) and not name.endswith((".exists", ".ls", ".cache_dir",
                                                      ".start_run", ".finish_run")):
        assert any(w in doc for w in ("Raises", "raises", "Errors", "error")), \
            f"{name}: does not say what it raises"
