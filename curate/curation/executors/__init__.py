"""Curation past one process: each step as a function of Arrow batches (`ops.py`), run either
in-process, streamed batch by batch (`inprocess.py`), or as datatrove pipelines under its Local,
Slurm or Ray executor (`dtsteps.py`, `driver.py`), over units of the input version's Parquet
files (`units.py`). Both paths run the same batch functions, so they give the same rows, the
same order, the same per-reason counts and the same version id. Only the driver touches the
catalog; workers read part files and write Parquet shards that the driver adopts.
"""
