"""Publish a catalog version to the Hugging Face Hub with `huggingface_hub`.

The folder uploaded is exactly what `curate export` writes (configs per variant, card,
histogram, recipe), built in a temporary folder under the catalog's cache. Every check that
can fail without the network runs first (dataset, repo id, contamination flags, token,
offline mode); any failure is one line without the token, and the catalog changes only
after the Hub has acknowledged the commit (one row in `publications`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from curate.catalog.card import flag_counts
from curate.catalog.export import check_target, load_configs, write_export
from curate.errors import BadInput, CurateError
from curate.redact import scrub

TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class Publication:
    dataset: str
    repo: str
    revision: str | None
    commit_sha: str | None
    url: str | None
    private: bool
    configs: list[str]
    folder: str | None = None  # the exported folder (dry runs only)


def check_repo_id(repo: str) -> str:
    """`ORG/NAME` as the Hub accepts it."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not repo or repo.count("/") != 1:
        raise BadInput(f"--repo {repo!r}: expected ORG/NAME")
    try:
        validate_repo_id(repo)
    except HFValidationError as e:
        raise BadInput(f"--repo {repo!r}: {str(e).splitlines()[0]}") from None
    return repo


def offline() -> bool:
    """HF_HUB_OFFLINE as set now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE


def hub_token() -> str:
    """The token from HF_TOKEN or `hf auth login`; never printed."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise CurateError("no Hugging Face token: set HF_TOKEN or run `hf auth login` "
                          "(nothing was published)")
    return token


def refuse_contaminated(cfgs, allow: bool) -> None:
    flags = {k: v for k, v in flag_counts(cfgs).items() if v}
    if flags and not allow:
        found = ", ".join(f"{k}: {v} rows" for k, v in flags.items())
        raise CurateError(f"refusing to publish rows flagged as contaminated ({found}); "
                          "decontaminate with drop, or pass --allow-contaminated")


def _scrub(msg: str, token: str) -> str:
    return (scrub(msg, extra=(token,)).strip().splitlines() or [""])[0][:300]


# Past these, a publish goes through `upload_large_folder` (many commits, resumable, parallel
# workers, retries per file) instead of one `upload_folder` commit. huggingface_hub 2.x folded
# that into `upload_folder` itself (with hf_xet: streamed, committed in batches, resumed by
# running it again), and has no `upload_large_folder`: there `upload_folder` is the large path.
LARGE_BYTES = 2 * 2**30
LARGE_FILES = 50


def is_large(folder: Path, large_bytes: int = LARGE_BYTES, large_files: int = LARGE_FILES) -> bool:
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    return len(files) > large_files or sum(p.stat().st_size for p in files) > large_bytes


@dataclass
class _Uploaded:
    """What `upload_large_folder` leaves (it returns nothing): the branch head after it."""
    oid: str | None
    commit_url: str | None


def hub_api(token: str):
    """An `HfApi` on `HF_ENDPOINT` (or the Hub) with `token`."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)


def preflight(token: str, what: str) -> None:
    """Ask the Hub who `token` is before any export work: a bad token, offline mode or an
    unreachable endpoint fails here, in one line, before anything is built or uploaded."""
    try:
        hub_api(token).whoami()
    except Exception as e:  # network, HTTP and auth errors from the Hub client
        raise CurateError(f"{what} failed before any upload: the Hub did not answer for this "
                          f"token: {type(e).__name__}: {_scrub(str(e), token)} "
                          "(catalog unchanged)") from None


def upload(folder: Path, repo: str, token: str, private: bool, revision: str | None,
           message: str):
    """create_repo (exist_ok) [+ branch] + upload_folder, or `upload_large_folder` for a large
    folder (`is_large`); returns the CommitInfo (or the head commit after a large upload)."""
    api = hub_api(token)
    api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
    if revision:
        api.create_branch(repo, branch=revision, repo_type="dataset", exist_ok=True)
    if not (is_large(folder) and hasattr(api, "upload_large_folder")):
        return api.upload_folder(repo_id=repo, folder_path=str(folder), repo_type="dataset",
                                 revision=revision, commit_message=message)
    api.upload_large_folder(repo_id=repo, folder_path=str(folder), repo_type="dataset",
                            revision=revision, private=private, print_report=False)
    sha = api.repo_info(repo, repo_type="dataset", revision=revision).sha
    endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    return _Uploaded(sha, f"{endpoint}/datasets/{repo}/commit/{sha}" if sha else None)


def publish(catalog, spec: str, repo: str, private: bool = False, revision: str | None = None,
            allow_contaminated: bool = False, dry_run: str | os.PathLike | None = None,
            license: str | None = None, variants: bool = True,
            overwrite: bool = False, progress: bool = False) -> Publication:
    """Export `spec` with its variants and upload it to dataset repo `repo`.

    `dry_run=DIR` writes the folder that would be uploaded to DIR and touches neither the
    network nor the catalog.

    Returns a `Publication` (dataset, repo, revision, commit, url), also recorded in the
    `publications` table. Raises CurateError for a contaminated dataset (without
    `allow_contaminated`), a missing token or a Hub error; IntegrityError for damaged files.

    Example: ``publish(cat, "cd-cot", "ORG/cd-cot", private=True, dry_run="out/preview")``.
    """
    ref = catalog.resolve(spec)
    check_repo_id(repo)
    if dry_run is not None:
        check_target(dry_run, overwrite)
    cfgs = load_configs(catalog, ref.spec, variants=variants)
    refuse_contaminated(cfgs, allow_contaminated)
    names = [c.name for c in cfgs]
    if dry_run is not None:
        out = write_export(catalog, cfgs, dry_run, overwrite=overwrite, repo_id=repo,
                           license=license, progress=progress)
        return Publication(ref.spec, repo, revision, None, None, private, names, str(out))
    token = hub_token()
    if offline():
        raise CurateError("HF_HUB_OFFLINE is set: cannot publish without the network "
                          "(nothing was published)")
    preflight(token, f"publishing {ref.spec} to {repo}")
    tmp = catalog.cache_dir("publish") / f"{ref.name}-{uuid.uuid4().hex[:8]}"
    try:
        folder = write_export(catalog, cfgs, tmp, repo_id=repo, license=license,
                              progress=progress)
        try:
            info = upload(folder, repo, token, private, revision,
                          f"curate publish {ref.spec} ({', '.join(names)})")
        except Exception as e:  # network, HTTP and auth errors from the Hub client
            raise CurateError(f"publishing {ref.spec} to {repo} failed: {type(e).__name__}: "
                              f"{_scrub(str(e), token)} (catalog unchanged)") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    pub = Publication(ref.spec, repo, revision, getattr(info, "oid", None),
                      getattr(info, "commit_url", None), private, names)
    row = {k: v for k, v in asdict(pub).items() if k not in ("configs", "folder")}
    catalog.insert("publications", row)
    return pub
