"""DDL of the catalog tables. JSON-valued columns are stored as JSON text for portability."""

from __future__ import annotations

TABLES: dict[str, str] = {
    "datasets": """
        CREATE TABLE IF NOT EXISTS datasets (
            name VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            rows BIGINT NOT NULL,
            bytes BIGINT,
            path VARCHAR NOT NULL,
            created TIMESTAMP NOT NULL,
            card VARCHAR,
            stats JSON,
            schema JSON,
            run_id VARCHAR,
            PRIMARY KEY (name, version)
        )""",
    "lineage": """
        CREATE TABLE IF NOT EXISTS lineage (
            child VARCHAR NOT NULL,          -- name@version
            parent VARCHAR,                  -- name@version, NULL for a root (e.g. import)
            step VARCHAR NOT NULL,
            params JSON,
            code_version VARCHAR,
            counts JSON,                     -- {"in": n, "out": n, "dropped": {reason: n}}
            created TIMESTAMP NOT NULL
        )""",
    "runs": """
        CREATE TABLE IF NOT EXISTS runs (
            id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,           -- generate, filter, train, eval, probe, ...
            name VARCHAR,
            config JSON,
            status VARCHAR NOT NULL,         -- running, ok, failed, died
            started TIMESTAMP NOT NULL,
            finished TIMESTAMP,
            host VARCHAR,
            inputs JSON,
            outputs JSON,
            metrics JSON,
            error VARCHAR,
            code_version VARCHAR,
            process VARCHAR                  -- boot-id:pid:start of the process running it
        )""",
    "checkpoints": """
        CREATE TABLE IF NOT EXISTS checkpoints (
            id VARCHAR PRIMARY KEY,
            run_id VARCHAR,
            path VARCHAR NOT NULL,
            step BIGINT,
            model VARCHAR,                   -- base model path or hub id
            mixture VARCHAR,                 -- name@version trained on
            tokens_seen BIGINT,
            loss DOUBLE,
            metrics JSON,
            created TIMESTAMP NOT NULL
        )""",
    "evals": """
        CREATE TABLE IF NOT EXISTS evals (
            id VARCHAR PRIMARY KEY,
            run_id VARCHAR,
            model VARCHAR NOT NULL,
            checkpoint_id VARCHAR,
            step BIGINT,
            benchmark VARCHAR NOT NULL,
            domain VARCHAR,                  -- math, other, non
            metric VARCHAR NOT NULL,         -- accuracy, avg@k, pass@k, ...
            value DOUBLE,
            n_samples BIGINT,
            k BIGINT,
            mean_response_tokens DOUBLE,
            truncation_rate DOUBLE,
            outputs_path VARCHAR,
            config JSON,
            created TIMESTAMP NOT NULL
        )""",
    "probes": """
        CREATE TABLE IF NOT EXISTS probes (
            id VARCHAR PRIMARY KEY,
            run_id VARCHAR,
            probe VARCHAR NOT NULL,          -- ti, kl, pca-shift, rank-shift, length
            model VARCHAR,
            base VARCHAR,
            checkpoint_id VARCHAR,           -- the model's row in checkpoints, when it is one
            base_checkpoint_id VARCHAR,      -- the base's, when it is one
            texts VARCHAR,
            params JSON,
            results JSON,
            plot_path VARCHAR,
            created TIMESTAMP NOT NULL
        )""",
    "coverage": """
        CREATE TABLE IF NOT EXISTS coverage (
            id VARCHAR PRIMARY KEY,
            run_id VARCHAR,
            dataset VARCHAR NOT NULL,        -- name@version
            benchmark VARCHAR NOT NULL,
            embedder VARCHAR NOT NULL,
            embedder_version VARCHAR,
            metrics JSON,
            report_path VARCHAR,
            created TIMESTAMP NOT NULL
        )""",
    "publications": """
        CREATE TABLE IF NOT EXISTS publications (
            id VARCHAR PRIMARY KEY,
            dataset VARCHAR NOT NULL,        -- name@version
            repo VARCHAR NOT NULL,
            revision VARCHAR,
            commit_sha VARCHAR,
            url VARCHAR,
            private BOOLEAN,
            created TIMESTAMP NOT NULL
        )""",
}

# Applied in order on every write connection (each idempotent): columns added after a table
# was first shipped, and rewrites of values whose meaning changed.
MIGRATIONS: list[str] = [
    "ALTER TABLE probes ADD COLUMN IF NOT EXISTS checkpoint_id VARCHAR",
    "ALTER TABLE probes ADD COLUMN IF NOT EXISTS base_checkpoint_id VARCHAR",
    # runs record the process that runs them, so a killed run can be marked `died`
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS process VARCHAR",
    # dataset paths are relative to the workspace (earlier catalogs stored them as given)
    "UPDATE datasets SET path = 'store/' || name || '/' || version "
    "WHERE path <> 'store/' || name || '/' || version "
    "AND ends_with(path, '/store/' || name || '/' || version)",
]

JSON_COLUMNS = {
    "datasets": {"stats", "schema"},
    "lineage": {"params", "counts"},
    "runs": {"config", "inputs", "outputs", "metrics"},
    "checkpoints": {"metrics"},
    "evals": {"config"},
    "probes": {"params", "results"},
    "coverage": {"metrics"},
    "publications": set(),
}
