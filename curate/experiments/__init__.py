"""Experiments: the papers' comparisons as one YAML file each, run end to end by `curate run`.

An experiment has arms (each a mixture and a training method with its schedule), a shared base
model, an eval suite, the probes and the comparison. Running it trains each arm with dense
checkpoints, evaluates the base and every checkpoint, computes TI per checkpoint against the
base, runs KL / PCA shift / rank shift of each final model against the base, and registers
everything in the catalog with lineage to each arm's data; a rerun skips every arm, checkpoint
evaluation and probe already done (`curate.experiments.runner`). The comparison page's data
come from `curate.experiments.compare`.

    from curate.experiments import load_experiment, run_experiment
    spec = load_experiment("experiments/data-structure.yaml", ["select=countdown-cot"])
    summary = run_experiment(Catalog(), spec)
"""

from __future__ import annotations

from curate.experiments.spec import is_experiment, load_experiment

__all__ = ["is_experiment", "load_experiment", "run_experiment"]


def run_experiment(catalog, spec, log=None, force: bool = False, progress: bool = True):
    """See `curate.experiments.runner.run_experiment`."""
    from curate.experiments.runner import run_experiment as run

    return run(catalog, spec, log=log, force=force, progress=progress)
