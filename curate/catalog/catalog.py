"""The catalog: one DuckDB file that remembers every dataset version, its lineage, and every
run, checkpoint, eval, probe and coverage figure; beside it the immutable Parquet store."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

import curate
from curate.catalog import names, rows_in, store
from curate.catalog.locking import file_lock
from curate.catalog.schema import JSON_COLUMNS, MIGRATIONS, TABLES
from curate.errors import BadInput, CurateError, IntegrityError, NotFound
from curate.redact import scrub, scrub_obj

# User SQL runs read-only with DuckDB's external access off (no files, no network, no
# ATTACH/COPY/EXPORT), no extension installs or loads, and the configuration locked so no
# SET/PRAGMA can turn any of it back on.
SQL_SANDBOX = {"enable_external_access": False, "autoinstall_known_extensions": False,
               "autoload_known_extensions": False, "lock_configuration": True}
JOURNAL = "curate-register/1"  # format of a writer's journal (see store.Staging)
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
    """Python API over the catalog; the CLI only wraps these methods.

    Example::

        cat = Catalog(".curate")
        ref = cat.register("my-set", [{"prompt": "2+2?", "reference": "4"}], kind="problems")
        cat.get("my-set")                      # datasets.Dataset, memory-mapped
        cat.sql("select name, rows from datasets where kind = ?", ["problems"])
    """

    def __init__(self, home: str | os.PathLike | None = None, *, create: bool = True):
        """Open the workspace at `home` (default `$CURATE_HOME` or `./.curate`).

        `create=False` is for verbs that only read: a folder without `catalog.duckdb` raises
        NotFound (a mistyped `--home`) instead of becoming a new, empty workspace. Nothing is
        opened until the first call that needs the database.

        Example: ``Catalog()``, ``Catalog("runs/exp1/.curate", create=False)``.
        """
        self.home = Path(home if home is not None else default_home()).absolute()
        self.db_path = self.home / "catalog.duckdb"
        self.store_root = self.home / "store"
        self._lock_path = self.home / "catalog.lock"
        self._initialised = False
        if not create and not self.db_path.is_file():
            raise NotFound(f"no catalog at {self.home} ({self.db_path.name} does not exist); "
                           "check --home or CURATE_HOME")

    # -- connections -------------------------------------------------------------------
    @contextmanager
    def connect(self, read_only: bool = False, sandbox: bool = False):
        """A short-lived connection under the catalog lock (DuckDB allows one process).

        `sandbox`: read-only with DuckDB's external access off and its configuration locked
        (SQL_SANDBOX), for SQL written by a user.

        Raises CurateError when the database cannot be opened.
        Example: ``with cat.connect(read_only=True) as con: con.execute("select 1")``.
        """
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as e:      # a file, under a file, read-only, no permission
            raise CurateError(f"{self.home}: cannot use as the workspace folder "
                              f"({e.strerror or type(e).__name__}); check --home or "
                              "CURATE_HOME") from None
        with file_lock(self._lock_path):
            if read_only and not self.db_path.exists():
                read_only = False  # create it first
            try:
                con = duckdb.connect(str(self.db_path), read_only=read_only or sandbox,
                                     config=SQL_SANDBOX if sandbox else {})
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
        """Create or migrate the tables, then reconcile what dead processes left (once)."""
        if not self._initialised:
            with self.connect():
                pass
            self.reconcile()

    def reconcile(self) -> dict[str, int]:
        """Finish what killed processes left behind: a version folder published but never
        recorded is recorded from its writer's journal when it is complete and hash-verified,
        else removed; staging folders of dead writers are removed; runs whose process is
        gone are marked `died`. Safe to run at any time, from any number of processes.
        Returns {"adopted": n, "removed": n, "writers": n, "runs_died": n}.

        Errors are those of opening the catalog (CurateError).
        Example: ``Catalog(".curate").reconcile()  # {"adopted": 0, "removed": 1, ...}``.
        """
        out = {"adopted": 0, "removed": 0, "writers": 0, "runs_died": 0}

        def on_dead(journal: dict | None) -> None:
            if journal and journal.get("format") == JOURNAL:
                what = self._adopt_published(journal)
                if what in out:
                    out[what] += 1

        out["writers"] = store.reclaim_dead_writers(self.store_root, on_dead)
        out["runs_died"] = self._mark_dead_runs()
        return out

    def _folder(self, name: str, version: str, stored: str | None = None) -> Path:
        """A version's folder. Paths are stored relative to the workspace, so a moved or
        copied workspace reads its own files; older absolute entries map to the same place."""
        if stored and not os.path.isabs(stored):
            return self.home / stored
        return self.store_root / name / version

    def _ref(self, row: dict[str, Any]) -> DatasetRef:
        return DatasetRef(row["name"], row["version"], row["kind"], row["rows"],
                          str(self._folder(row["name"], row["version"], row.get("path"))))

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
        finish: Callable[[store.WrittenVersion], dict[str, Any]] | None = None,
    ) -> DatasetRef:
        """Write `data` as a new immutable version of `name` and record it with its lineage.

        `data`: a list of dicts, a `datasets.Dataset` (a `select`/`shuffle` view included), a
        `pyarrow.Table` or `RecordBatch`, a `pandas.DataFrame`, or any iterable of dicts or
        record batches (streamed in batches, never held whole). For the kinds `curate import`
        reads (`problems`, `traces`, `benchmark`) every row needs a non-empty prompt (`prompt`,
        `problem`, `question` or `input`) and the known fields their types (`verified` bool,
        `completion_tokens` int, `messages` a list of {role, content}, ...); other kinds
        (`mixture`, `rows`, ...) are stored as given. `parents`: specs this version was made
        from; `step`, `params`, `counts` (`{"in": n, "out": n, "dropped": {reason: n}}`) go to
        lineage; `schema` casts every batch to it.

        Atomic: files go to a temporary folder, are fsynced and renamed into place, and the
        catalog rows are inserted in one transaction. Identical content returns the existing
        version (the version id is a hash of the content). `finish(written)`, when given,
        runs once the data is written and before anything is published; the `params`,
        `counts`, `card` or `stats` it returns replace those given (for steps that stream
        their input and know their counts only at the end).

        Returns a `DatasetRef(name, version, kind, rows, path)`.
        Raises BadInput (a bad name; a bad row, naming the row and the field; rows that do not
        fit one schema), NotFound (an unknown parent); nothing is registered then.

        Example::

            ref = cat.register("clean", df, kind="traces", parents=["raw"], step="filter",
                               params={"max_tokens": 4096},
                               counts={"in": 10, "out": 8, "dropped": {"too_long": 2}})
            ref.spec        # 'clean@3f2a...'
        """
        check_names(name)
        data = rows_in.prepare(data, kind, name)
        self._ensure()
        parent_specs = [self.resolve(p).spec for p in parents]
        with store.Staging(self.store_root) as staging:
            written = store.stage_version(staging.folder, data, schema=schema)
            if finish is not None:
                late = finish(written) or {}
                params, counts = late.get("params", params), late.get("counts", counts)
                card, stats = late.get("card", card), late.get("stats", stats)
            return self._publish_and_record(staging, name, written, kind, parent_specs, step,
                                            params, counts, card, stats, run_id)

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

        Example: ``cat.adopt("clean", sorted(stage.glob("*.parquet")), parents=["raw"],
        step="filter", counts=merged)``.
        """
        check_names(name)
        self._ensure()
        parent_specs = [self.resolve(p).spec for p in parents]
        paths = [Path(f) for f in files]
        keep = store.check_adoptable(paths)
        with store.Staging(self.store_root) as staging:
            written = store.stage_adopted(staging.folder, keep)
            ref = self._publish_and_record(staging, name, written, kind, parent_specs, step,
                                           params, counts, card, stats, run_id)
        if not keep_source:
            for p in paths:
                p.unlink(missing_ok=True)
        return ref

    def _publish_and_record(self, staging: store.Staging, name: str,
                            written: store.WrittenVersion, kind: str, parent_specs: list[str],
                            step: str, params: dict | None, counts: dict | None,
                            card: str | None, stats: dict | None,
                            run_id: str | None) -> DatasetRef:
        """Journal a staged version, publish it into the store and record it in the catalog
        (one transaction), or find the identical version already recorded."""
        record = self._version_record(
            name, written, kind=kind, parents=parent_specs, step=step, params=params,
            counts=counts, card=card, stats={**written.stats, **(stats or {})}, run_id=run_id)
        staging.journal(record)  # a crash from here on is finished by reconcile()
        staging.published = True
        store.publish_version(self.store_root, name, written.path, written.version)
        hit = self._record_version(record)
        if hit is not None:
            return self._ref(hit)
        return DatasetRef(name, written.version, kind, written.rows,
                          str(self._folder(name, written.version)))

    def _version_record(self, name: str, written: store.WrittenVersion, *, kind: str,
                        parents: list[str], step: str, params: dict | None,
                        counts: dict | None, card: str | None, stats: dict,
                        run_id: str | None) -> dict[str, Any]:
        """Everything the catalog rows of a new version hold (also its writer's journal)."""
        return {"format": JOURNAL, "name": name, "version": written.version, "kind": kind,
                "rows": written.rows, "bytes": written.bytes,
                "path": f"{self.store_root.name}/{name}/{written.version}",
                "created": _now().isoformat(), "card": scrub(card),
                "stats": _json(scrub_obj(stats)),
                "schema": _json(_schema_json(written.schema)), "run_id": run_id,
                "parents": list(parents), "step": step, "params": _json(scrub_obj(params or {})),
                "counts": _json(counts or {}), "code_version": code_version()}

    def _record_version(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        """Insert a version's rows in one transaction; the existing row if already there."""
        name, version = rec["name"], rec["version"]
        created = dt.datetime.fromisoformat(rec["created"])
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                hit = con.execute("SELECT name, version, kind, rows, path FROM datasets "
                                  "WHERE name=? AND version=?", [name, version]).fetchone()
                if hit is None:
                    con.execute(
                        "INSERT INTO datasets VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        [name, version, rec["kind"], rec["rows"], rec["bytes"], rec["path"],
                         created, rec["card"], rec["stats"], rec["schema"], rec["run_id"]])
                    for parent in rec["parents"] or [None]:
                        con.execute("INSERT INTO lineage VALUES (?,?,?,?,?,?,?)",
                                    [f"{name}@{version}", parent, rec["step"], rec["params"],
                                     rec["code_version"], rec["counts"], created])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        if hit is None:
            return None
        return dict(zip(("name", "version", "kind", "rows", "path"), hit))

    def _adopt_published(self, rec: dict[str, Any]) -> str:
        """A dead writer's journal: record its published folder if complete, else remove it.
        Returns "adopted", "removed" or "none"."""
        name, version = rec["name"], rec["version"]
        final = self.store_root / name / version
        with file_lock(self.store_root / store.LOCKS / f"{name}.lock"):
            if self._query_raw("SELECT 1 FROM datasets WHERE name=? AND version=?",
                               [name, version]) or not final.exists():
                return "none"
            try:
                m = store.check_version(final, full=True)
                if m.get("version") != version:
                    raise IntegrityError(f"{final}: manifest names version {m.get('version')}")
            except IntegrityError:
                shutil.rmtree(final, ignore_errors=True)
                return "removed"
            self._record_version(rec)
            return "adopted"

    def _query_raw(self, sql: str, params: list) -> list[tuple]:
        with self.connect(read_only=True) as con:
            return con.execute(sql, params).fetchall()

    def _mark_dead_runs(self) -> int:
        """Runs left `running` by a process of this host that no longer exists -> `died`."""
        host = socket.gethostname()
        rows = self._query_raw("SELECT id, process FROM runs WHERE status='running' AND host=? "
                               "AND process IS NOT NULL", [host])
        dead = [(rid, proc) for rid, proc in rows if not process_alive(proc)]
        if not dead:
            return 0
        with self.connect() as con:
            for rid, proc in dead:
                pid = proc.split(":")[1] if proc.count(":") >= 2 else proc
                con.execute("UPDATE runs SET status='died', finished=?, error=? "
                            "WHERE id=? AND status='running'",
                            [_now(), f"process {pid} on {host} ended without finishing the run "
                                     "(killed or crashed)", rid])
        return len(dead)

    def resolve(self, spec: str | DatasetRef) -> DatasetRef:
        """`name` (newest) or `name@version` (a unique prefix is enough) -> DatasetRef.

        Raises NotFound: for an unknown name it suggests the closest names (all names are
        candidates); for an unknown or ambiguous version it lists the name's versions.
        Example: ``cat.resolve("clean@3f2a").spec  # 'clean@3f2a9c...'``.
        """
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
        return self._ref(rows[0])

    def exists(self, spec: str | DatasetRef) -> bool:
        """Whether `spec` resolves (never raises NotFound). Example: ``cat.exists("raw")``."""
        try:
            self.resolve(spec)
            return True
        except NotFound:
            return False

    def files(self, spec: str | DatasetRef, full_check: bool = False) -> list[Path]:
        """The version's Parquet files, after checking they are present and intact: sizes
        always, content hashes (xxh3-128) when a file's mtime moved or `full_check` is set.
        Raises IntegrityError naming the version and the file, NotFound for an unknown spec.
        Example: ``[p.name for p in cat.files("raw")]  # ['part-00000.parquet']``."""
        ref = self.resolve(spec)
        folder = Path(ref.path)
        try:
            m = store.check_version(folder, full=full_check)
        except IntegrityError as e:
            raise IntegrityError(f"dataset {ref.spec}: {e}") from None
        return [folder / e["name"] for e in m["files"]]

    def table(self, spec: str | DatasetRef, columns: list[str] | None = None, *,
              verify: bool = False) -> pa.Table:
        """The version as one Arrow table (memory-mapped).

        Every read checks sizes (and hashes a file whose mtime moved); `verify` re-hashes
        every file against the manifest first, which catches silent bit rot (export and
        publish do; xxh3 at about 1 GB/s, benchmarks/store_integrity.py). A file that fails
        to decode raises IntegrityError naming the version and the file; an unknown spec
        NotFound. Example: ``cat.table("raw", columns=["id", "prompt"]).num_rows``."""
        ref = self.resolve(spec)
        tables = [self._read(ref, f, lambda f=f: pq.read_table(f, columns=columns,
                                                               memory_map=True))
                  for f in self.files(ref, full_check=verify)]
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def get(self, spec: str | DatasetRef, columns: list[str] | None = None):
        """The version as a `datasets.Dataset` (memory-mapped, no copy into a cache).

        `columns` limits what is read. Raises NotFound / IntegrityError as `table` does.
        Example: ``ds = cat.get("clean"); ds[0]["prompt"]``."""
        import datasets

        return datasets.Dataset(self.table(spec, columns))

    def iter_batches(self, spec: str | DatasetRef, batch_size: int = 10_000,
                     columns: list[str] | None = None):
        """Stream a version as Arrow record batches of at most `batch_size` rows (for data
        larger than memory). Raises NotFound / IntegrityError as `table` does.
        Example: ``sum(b.num_rows for b in cat.iter_batches("raw", 50_000, ["id"]))``.

        Files are read, not memory-mapped: a mapped file's pages stay in the process's RSS
        as it is read through (1 GB per GB read), which is what a Slurm job's memory
        accounting sees and kills for; read buffers are freed batch by batch."""
        ref = self.resolve(spec)
        for f in self.files(ref):
            pf = self._read(ref, f, lambda f=f: store.open_stream(f))
            batches = pf.iter_batches(batch_size=batch_size, columns=columns)
            while True:
                batch = self._read(ref, f, lambda b=batches: next(b, None))
                if batch is None:
                    break
                yield batch

    def _read(self, ref: DatasetRef, path: Path, read):
        """Run `read()`; a failure to decode a stored file becomes one IntegrityError line
        that names the version and the file, and says whether its bytes changed."""
        try:
            return read()
        except (OSError, pa.ArrowException) as e:
            raise IntegrityError(damage_message(ref.spec, path, e)) from None

    def ls(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every dataset version (or only `name`'s) as dicts {name, version, kind, rows,
        created}, by name then newest first. Example: ``[r["version"] for r in cat.ls("raw")]``.
        """
        q = "SELECT name, version, kind, rows, created FROM datasets"
        params: list = []
        if name:
            q += " WHERE name=?"
            params.append(name)
        return self._query(q + " ORDER BY name, created DESC", params)

    def show(self, spec: str | DatasetRef) -> dict[str, Any]:
        """One version's catalog row with `stats` and `schema` decoded, its `files` and its
        `parents` (specs). Raises NotFound / IntegrityError.
        Example: ``cat.show("clean")["stats"]["rows"]``."""
        ref = self.resolve(spec)
        row = self._query("SELECT * FROM datasets WHERE name=? AND version=?",
                          [ref.name, ref.version])[0]
        row["path"] = ref.path
        for k in ("stats", "schema"):
            row[k] = json.loads(row[k]) if row[k] else None
        row["files"] = [str(p) for p in self.files(ref)]
        row["parents"] = [r["parent"] for r in self._query(
            "SELECT parent FROM lineage WHERE child=? AND parent IS NOT NULL", [ref.spec])]
        return row

    def lineage(self, spec: str | DatasetRef) -> list[dict[str, Any]]:
        """The chain of ancestors, child first: one dict per version {dataset, step, params,
        counts, code_version, created, parents}. Raises NotFound.
        Example: ``[e["step"] for e in cat.lineage("clean")]  # ['filter', 'generate']``."""
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
        """Run SQL over the catalog tables; values go in `params` (`?`).

        The connection is read-only and sandboxed (SQL_SANDBOX): no writes, no reading or
        writing files (COPY, read_csv, read_parquet, ATTACH, EXPORT), no extensions (INSTALL,
        LOAD), no settings (SET, PRAGMA, RESET). Any refusal or SQL error is one CurateError.
        Returns one dict per row; JSON columns (metrics, params, counts, ...) as JSON text.

        Example: ``cat.sql("select step, loss from checkpoints where run_id = ?", [run])``.
        """
        self._ensure()
        with self.connect(sandbox=True) as con:

            def run() -> list[dict[str, Any]]:
                cur = con.execute(query, params) if params is not None else con.execute(query)
                if cur.description is None:
                    return []
                cols = [d[0] for d in cur.description]
                return [dict(zip(cols, r)) for r in cur.fetchall()]

            try:
                return _interruptible(con, run)
            except duckdb.Error as e:
                raise CurateError(_sql_error(e)) from None

    # -- runs and measurement tables ---------------------------------------------------
    def start_run(self, kind: str, config: dict | None = None, inputs: list | None = None,
                  name: str | None = None) -> str:
        """Record a run as `running` (its kind, config and inputs, host, process, code
        version); returns its id. Secrets in the config are scrubbed. Pair it with
        `finish_run`; a run whose process dies is marked `died` by `reconcile`.
        Example: ``run = cat.start_run("train", config={"lr": 1e-5}, inputs=["mix@ab12"])``."""
        run_id = uuid.uuid4().hex[:16]
        with self.connect() as con:
            con.execute(
                "INSERT INTO runs (id, kind, name, config, status, started, host, inputs, "
                "code_version, process) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [run_id, kind, name, _json(scrub_obj(config or {})), "running", _now(),
                 socket.gethostname(), _json([scrub(str(i)) for i in (inputs or [])]),
                 code_version(), process_identity()])
        return run_id

    def finish_run(self, run_id: str, status: str = "ok", outputs: list | None = None,
                   metrics: dict | None = None, error: str | None = None) -> None:
        """Close run `run_id` with `status` (ok | failed), its outputs, metrics (JSON-able)
        and error line. Example: ``cat.finish_run(run, "ok", metrics={"loss": 0.41})``."""
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET status=?, finished=?, outputs=?, metrics=?, error=? WHERE id=?",
                [status, _now(), _json([scrub(str(o)) for o in (outputs or [])]),
                 _json(scrub_obj(metrics or {})), scrub(error), run_id])

    def reopen_run(self, run_id: str) -> None:
        """Mark a failed or died run `running` again in this process (a training run resumed
        from its checkpoint: one run row for the whole training); an unknown id changes
        nothing. Errors are those of opening the catalog (CurateError).
        Example: ``cat.reopen_run(run)`` then ``cat.finish_run(run, "ok", ...)``."""
        with self.connect() as con:
            con.execute("UPDATE runs SET status='running', finished=NULL, error=NULL, host=?, "
                        "process=?, code_version=? WHERE id=?",
                        [socket.gethostname(), process_identity(), code_version(), run_id])

    def insert(self, table: str, row: dict[str, Any]) -> str:
        """Insert one row into a measurement table (checkpoints, evals, probes, coverage,
        publications; columns in `curate/catalog/schema.py`); `id` and `created` are filled
        when absent, dict/list values stored as JSON. Returns the id. Raises CurateError for
        another table or an unknown column.
        Example: ``cat.insert("evals", {"model": "m", "benchmark": "math500",
        "metric": "accuracy", "value": 0.41})``."""
        if table not in TABLES or table in ("datasets", "lineage", "runs"):
            raise CurateError(f"cannot insert into {table!r}")
        row = {k: scrub_obj(v) for k, v in row.items()}
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
        """A folder for resumable caches (requests, verification, embeddings), created if
        needed: `$CURATE_HOME/cache/<area>`. Example: ``cat.cache_dir("requests")``."""
        p = self.home / "cache" / area
        p.mkdir(parents=True, exist_ok=True)
        return p


def _sql_error(e: BaseException) -> str:
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if isinstance(e, duckdb.PermissionException) or "configuration has been locked" in line \
            or "read-only mode" in line:
        return (f"SQL error: {line} (catalog SQL is read-only and sandboxed: no files, "
                "extensions, other databases or settings)")
    return f"SQL error: {line}"


def _interruptible(con, fn):
    """`fn()` (a query on `con`) in a helper thread, so Ctrl-C reaches this one: DuckDB does
    not return to Python while a query runs, so a user's endless query (a recursive CTE
    without a bound) ignored Ctrl-C and held the catalog lock, blocking every other curate
    process. On KeyboardInterrupt the query is interrupted and KeyboardInterrupt re-raised."""
    import threading

    box: dict[str, Any] = {}
    done = threading.Event()   # not Thread.join: a join cut by Ctrl-C can report a live
                               # thread as stopped (CPython), then close() finds it busy

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=target, name="curate-sql", daemon=True).start()
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        con.interrupt()
        done.wait(30)
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def damage_message(spec: str, path: Path, error: BaseException) -> str:
    """One line for a stored file that failed to read: re-hashed against its manifest."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    try:
        entry = next(e for e in store.read_manifest(path.parent)["files"]
                     if e["name"] == path.name)
        changed = store.hash_file(path) != entry["xxh3_128"]
    except (IntegrityError, OSError, StopIteration, KeyError):
        changed = None
    what = ("is damaged: its bytes no longer match the manifest's hash" if changed else
            "cannot be read although its bytes match the manifest" if changed is False else
            "cannot be read")
    return (f"dataset {spec}: file {path} {what} ({detail}); "
            "`curate catalog check --deep` lists all damage")


def process_identity(pid: int | None = None) -> str:
    """`boot-id:pid:start-ticks` of a process: unique on this host across pid reuse and
    reboots (Linux /proc); `::pid:` elsewhere."""
    pid = os.getpid() if pid is None else pid
    return f"{_boot_id()}:{pid}:{_start_ticks(pid) or ''}"


def process_alive(identity: str) -> bool:
    """Whether the process named by `process_identity` still runs (on this host)."""
    boot, pid_s, start = (identity.split(":") + ["", "", ""])[:3]
    try:
        pid = int(pid_s)
    except ValueError:
        return True  # not ours to judge
    if boot and boot != _boot_id():
        return False  # the machine rebooted since
    current = _start_ticks(pid)
    if start and Path("/proc/self/stat").exists():
        return current == start  # gone (None) or a new process with a reused pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time since boot), or None when not readable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _schema_json(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def ref_dict(ref: DatasetRef) -> dict[str, Any]:
    return asdict(ref)
