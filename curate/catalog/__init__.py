"""The DuckDB catalog and the content-addressed Parquet store."""

from curate.catalog.catalog import Catalog, DatasetRef, default_home, split_spec

__all__ = ["Catalog", "DatasetRef", "default_home", "split_spec"]
