"""What produced a result: parameters, their hash, package versions and the code, recorded beside every result."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata

# Set by the invocation that planned the job (runplan.codebase): the checkout's git commit and
# whether its code differed from it. Not a param: a new commit alone reruns nothing.
CODE_ORIGIN_VARIABLE = "MOSAICFOCUS_CODE_ORIGIN"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("torch", "numpy", "mosaicfocus"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def config_digest(params) -> str:
    """SHA-256 of the parameters as canonical JSON: equal exactly when the parameters are equal."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def evaluation_provenance(model_meta: dict) -> dict:
    """What produced a model's scores, from the metadata its weight file carries along:
    the source images, the mosaics, the tile weighting and the training, plus one hash of them."""
    produced_by = {
        "source": model_meta["data"].get("source"),
        "mosaics": model_meta["data"]["mosaics"],
        "weighting": model_meta["data"].get("weighting"),
        "train": model_meta["train"],
    }
    return {**produced_by, "config_sha256": config_digest(produced_by)}


def code_record(digest: str | None) -> dict:
    """The code a job ran: the digest of its script and the package code it imports (its
    ``params.code``), and the git commit it was frozen from, with ``dirty`` when the
    checkout's code differed from that commit (both None outside a git checkout)."""
    origin = json.loads(os.environ.get(CODE_ORIGIN_VARIABLE) or "{}")
    return {"digest": digest, "commit": origin.get("commit"), "dirty": origin.get("dirty")}


def code_lineage(job: str, digest: str | None, *upstream: dict | None) -> dict:
    """The code of every job a result descends from, by job name: the lineages its inputs
    carry, and this job's own ``code_record``."""
    lineage = {}
    for inherited in upstream:
        lineage.update(inherited or {})
    lineage[job] = code_record(digest)
    return lineage


def code_versions(lineages) -> dict[str, dict[str, list]]:
    """Per job, the versions of its code that ``lineages`` (records' ``code`` entries) name:
    sorted digests, and the commits they came from as ``{"commit", "dirty"}``. More than one
    digest for a job means the records were made by a mix of code."""
    jobs: dict[str, dict[str, set]] = {}
    for lineage in lineages:
        for job, record in (lineage or {}).items():
            entry = jobs.setdefault(job, {"digests": set(), "commits": set()})
            entry["digests"].add(record.get("digest"))
            entry["commits"].add((record.get("commit"), record.get("dirty")))
    return {
        job: {
            "digests": sorted(d for d in entry["digests"] if d),
            "commits": [{"commit": c, "dirty": dirty} for c, dirty in sorted(entry["commits"], key=str)],
        }
        for job, entry in sorted(jobs.items())
    }


def commit_label(commit: str | None, dirty: bool | None) -> str:
    """A commit as people read it: its first 10 digits, ``(dirty)`` when the code differed from it."""
    return f"{commit[:10]}{' (dirty)' if dirty else ''}" if commit else "no commit"


def version_label(versions: dict) -> str:
    """One job's entry of ``code_versions`` in words: its digests (12 digits) and their commits."""
    digests = "/".join(d[:12] for d in versions["digests"]) or "none"
    return f"{digests} from {', '.join(commit_label(c['commit'], c['dirty']) for c in versions['commits'])}"
