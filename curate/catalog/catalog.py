"""The catalog: one DuckDB file that remembers every dataset version, its lineage, and every
run, checkpoint, eval, probe and coverage figure; beside it the immutable Parquet store."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

import curate
from curate.catalog import names, store
from curate.catalog.locking import file_lock
from curate.catalog.schema import JSON_COLUMNS, MIGRATIONS, TABLES
from curate.errors import BadInput, CurateError, NotFound

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}")   # the whole name (fullmatch)


def check_names(*names: str) -> None:
    """Raise BadInput unless every name is a valid dataset name: 1-128 of letters, digits,
    `.`, `_`, `-`, starting with a letter or digit (no path separators, no newline). Verbs call
    it with every name they will write (`X`, `X-rejects`, `X-failures`, `X-dropped`) before
    any work, so a bad companion name never leaves the main dataset registered alone."""
    for name in names:
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise BadInput(f"dataset name {name!r} must be 1-128 letters, digits, '.', '_' or "
                           "'-', starting with a letter or digit")


@dataclass(frozen=True)
class DatasetRef:
    name: str
    version: str
    kind: str
    rows: int
    path: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    def __str__(self) -> str:
        return self.spec


def default_home() -> Path:
    return Path(os.environ.get("CURATE_HOME") or "./.curate")


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit of the source tree when there is one."""
    here = Path(curate.__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, text=True,
                             capture_output=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{curate.__version__}+{sha}" if sha else curate.__version__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _json(v: Any) -> str | None:
    return None if v is None else json.dumps(v, default=str, sort_keys=True)


def split_spec(spec: str | DatasetRef) -> tuple[str, str | None]:
    if isinstance(spec, DatasetRef):
        return spec.name, spec.version
    name, _, version = str(spec).partition("@")
    return name, (version or None)


class Catalog:
    """Python API over the catalog; the CLI only wraps these methods."""

    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home) if home is not None else default_home()
        self.db_path = self.home / "catalog.duckdb"
        self.store_root = self.home / "store"
        self._lock_path = self.home / "catalog.lock"
        self._initialised = False

    # -- connections -------------------------------------------------------------------
    @contextmanager
    def connect(self, read_only: bool = False):
        """A short-lived connection under the catalog lock (DuckDB allows one process)."""
        self.home.mkdir(parents=True, exist_ok=True)
        with file_lock(self._lock_path):
            if read_only and not self.db_path.exists():
                read_only = False  # create it first
            try:
                con = duckdb.connect(str(self.db_path), read_only=read_only)
            except duckdb.Error as e:
                raise CurateError(f"{self.db_path}: cannot open catalog: {e}") from None
            try:
                if not read_only and not self._initialised:
                    for ddl in TABLES.values():
                        con.execute(ddl)
                    for ddl in MIGRATIONS:
                        con.execute(ddl)
                    self._initialised = True
                yield con
            finally:
                con.close()

    def _query(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        self._ensure()
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def _ensure(self) -> None:
        if not self._initialised:
            with self.connect():
                pass

    # -- datasets ----------------------------------------------------------------------
    def register(
        self,
        name: str,
        data: Any,
        *,
        kind: str = "traces",
        parents: Iterable[str | DatasetRef] = (),
        step: str = "register",
        params: dict | None = None,
        counts: dict | None = None,
        card: str | None = None,
        stats: dict | None = None,
        run_id: str | None = None,
        schema: pa.Schema | None = None,
    ) -> DatasetRef:
        """Write `data` as a new immutable version of `name` and record it with its lineage.

        Atomic: files go to a temporary folder, are fsynced and renamed into place, and the
        catalog rows are inserted in one transaction. Identical content returns the existing
        version.
        """
        check_names(name)
        parent_specs = [self.resolve(p).spec for p in parents]
        written = store.write_version(self.store_root, name, data, schema=schema)
        return self._record(name, written, kind, parent_specs, step, params, counts, card,
                            stats, run_id)

    def adopt(
        self,
        name: str,
        files: Iterable[str | os.PathLike],
        *,
        kind: str = "traces",
        parents: Iterable[str | DatasetRef] = (),
        step: str = "adopt",
        params: dict | None = None,
        counts: dict | None = None,
        card: str | None = None,
        stats: dict | None = None,
        run_id: str | None = None,
        keep_source: bool = False,
    ) -> DatasetRef:
        """Register Parquet files written elsewhere (executor workers) as a version of `name`.

        The files, in the given order, become the version's parts without re-encoding a byte:
        they are hard-linked (or copied across filesystems) into the store, read once for the
        content id and statistics, and the manifest is written; the sources are removed after
        unless `keep_source`. The version id is the same `register` gives the same rows
        (`content_id.py`): independent of how the rows were split into files and row groups,
        and of the writer's schema metadata. Errors: BadInput for a bad name, a file that is
        not Parquet, or files whose columns differ.
        """
        if not NAME_RE.match(name or ""):
            raise BadInput(f"dataset name {name!r} must match {NAME_RE.pattern}")
        parent_specs = [self.resolve(p).spec for p in parents]
        written = store.adopt_files(self.store_root, name, [Path(f) for f in files],
                                    keep_source=keep_source)
        return self._record(name, written, kind, parent_specs, step, params, counts, card,
                            stats, run_id)

    def _record(self, name: str, written, kind: str, parent_specs: list[str], step: str,
                params: dict | None, counts: dict | None, card: str | None,
                stats: dict | None, run_id: str | None) -> DatasetRef:
        """Insert a written version and its lineage in one transaction (or find it)."""
        all_stats = {**written.stats, **(stats or {})}
        created = _now()
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                hit = con.execute("SELECT kind, rows, path FROM datasets WHERE name=? AND version=?",
                                  [name, written.version]).fetchone()
                if hit is None:
                    con.execute(
                        "INSERT INTO datasets VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        [name, written.version, kind, written.rows, written.bytes,
                         str(written.path), created, card, _json(all_stats),
                         _json(_schema_json(written.schema)), run_id])
                    child = f"{name}@{written.version}"
                    for parent in parent_specs or [None]:
                        con.execute("INSERT INTO lineage VALUES (?,?,?,?,?,?,?)",
                                    [child, parent, step, _json(params or {}), code_version(),
                                     _json(counts or {}), created])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        if hit is not None:
            return DatasetRef(name, written.version, hit[0], hit[1], hit[2])
        return DatasetRef(name, written.version, kind, written.rows, str(written.path))

    def resolve(self, spec: str | DatasetRef) -> DatasetRef:
        """`name` (newest) or `name@version` (a unique prefix is enough) -> DatasetRef."""
        name, version = split_spec(spec)
        if version:
            rows = self._query(
                "SELECT name, version, kind, rows, path FROM datasets "
                "WHERE name=? AND starts_with(version, ?) ORDER BY created DESC", [name, version])
            if len(rows) > 1:
                raise NotFound(names.ambiguous_message(str(spec), rows))
        else:
            rows = self._query(
                "SELECT name, version, kind, rows, path FROM datasets WHERE name=? "
                "ORDER BY created DESC LIMIT 1", [name])
        if not rows:
            raise NotFound(names.not_found_message(self, str(spec)))
        return DatasetRef(**rows[0])

    def exists(self, spec: str | DatasetRef) -> bool:
        try:
            self.resolve(spec)
            return True
        except NotFound:
            return False

    def files(self, spec: str | DatasetRef, full_check: bool = False) -> list[Path]:
        """The version's Parquet files, after checking they are present and intact."""
        ref = self.resolve(spec)
        folder = Path(ref.path)
        store.check_version(folder, full=full_check)
        return store.version_files(folder)

    def table(self, spec: str | DatasetRef, columns: list[str] | None = None) -> pa.Table:
        files = self.files(spec)
        tables = [pq.read_table(f, columns=columns, memory_map=True) for f in files]
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def get(self, spec: str | DatasetRef, columns: list[str] | None = None):
        """The version as a `datasets.Dataset` (memory-mapped, no copy into a cache)."""
        import datasets

        return datasets.Dataset(self.table(spec, columns))

    def iter_batches(self, spec: str | DatasetRef, batch_size: int = 10_000,
                     columns: list[str] | None = None):
        """Stream a version as Arrow record batches (for data larger than memory)."""
        for f in self.files(spec):
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=columns)

    def ls(self, name: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT name, version, kind, rows, created FROM datasets"
        params: list = []
        if name:
            q += " WHERE name=?"
            params.append(name)
        return self._query(q + " ORDER BY name, created DESC", params)

    def show(self, spec: str | DatasetRef) -> dict[str, Any]:
        ref = self.resolve(spec)
        row = self._query("SELECT * FROM datasets WHERE name=? AND version=?",
                          [ref.name, ref.version])[0]
        for k in ("stats", "schema"):
            row[k] = json.loads(row[k]) if row[k] else None
        row["files"] = [str(p) for p in self.files(ref)]
        row["parents"] = [r["parent"] for r in self._query(
            "SELECT parent FROM lineage WHERE child=? AND parent IS NOT NULL", [ref.spec])]
        return row

    def lineage(self, spec: str | DatasetRef) -> list[dict[str, Any]]:
        """The chain of ancestors: one entry per dataset version, child first."""
        start = self.resolve(spec).spec
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        frontier = [start]
        while frontier:
            nxt: list[str] = []
            for child in frontier:
                if child in seen:
                    continue
                seen.add(child)
                rows = self._query("SELECT * FROM lineage WHERE child=? ORDER BY created", [child])
                if not rows:
                    out.append({"dataset": child, "step": None, "parents": []})
                    continue
                r0 = rows[0]
                parents = [r["parent"] for r in rows if r["parent"]]
                out.append({
                    "dataset": child,
                    "step": r0["step"],
                    "params": json.loads(r0["params"]) if r0["params"] else {},
                    "counts": json.loads(r0["counts"]) if r0["counts"] else {},
                    "code_version": r0["code_version"],
                    "created": r0["created"],
                    "parents": parents,
                })
                nxt.extend(parents)
            frontier = nxt
        return out

    def sql(self, query: str, params: list | None = None) -> list[dict[str, Any]]:
        """Run a read-only SQL query over the catalog tables; values go in `params` (`?`)."""
        self._ensure()
        with self.connect(read_only=True) as con:
            try:
                cur = con.execute(query, params) if params is not None else con.execute(query)
            except duckdb.Error as e:
                raise CurateError(f"SQL error: {str(e).splitlines()[0]}") from None
            if cur.description is None:
                return []
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    # -- runs and measurement tables ---------------------------------------------------
    def start_run(self, kind: str, config: dict | None = None, inputs: list | None = None,
                  name: str | None = None) -> str:
        run_id = uuid.uuid4().hex[:16]
        with self.connect() as con:
            con.execute(
                "INSERT INTO runs (id, kind, name, config, status, started, host, inputs, "
                "code_version) VALUES (?,?,?,?,?,?,?,?,?)",
                [run_id, kind, name, _json(config or {}), "running", _now(),
                 socket.gethostname(), _json([str(i) for i in (inputs or [])]), code_version()])
        return run_id

    def finish_run(self, run_id: str, status: str = "ok", outputs: list | None = None,
                   metrics: dict | None = None, error: str | None = None) -> None:
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET status=?, finished=?, outputs=?, metrics=?, error=? WHERE id=?",
                [status, _now(), _json([str(o) for o in (outputs or [])]), _json(metrics or {}),
                 error, run_id])

    def insert(self, table: str, row: dict[str, Any]) -> str:
        """Insert one row into a measurement table (checkpoints, evals, probes, coverage, ...)."""
        if table not in TABLES or table in ("datasets", "lineage", "runs"):
            raise CurateError(f"cannot insert into {table!r}")
        row = dict(row)
        row.setdefault("id", uuid.uuid4().hex[:16])
        row.setdefault("created", _now())
        for k in JSON_COLUMNS[table]:
            if k in row and not isinstance(row[k], str | None):
                row[k] = _json(row[k])
        cols = list(row)
        with self.connect() as con:
            known = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
            unknown = set(cols) - known
            if unknown:
                raise CurateError(f"{table}: unknown columns {sorted(unknown)}")
            con.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' * len(cols))})", [row[c] for c in cols])
        return row["id"]

    def cache_dir(self, area: str) -> Path:
        """A folder for resumable caches (requests, verification, embeddings)."""
        p = self.home / "cache" / area
        p.mkdir(parents=True, exist_ok=True)
        return p


def _schema_json(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def ref_dict(ref: DatasetRef) -> dict[str, Any]:
    return asdict(ref)
