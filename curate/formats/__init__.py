"""Formats and text conventions shared by every area (corpora, curation, catalog, training,
probes): user file readers (`rows`) and the `\\boxed{}` finder (`boxed`). Imports nothing
from curate but `curate.errors` and `curate.record`."""
