"""What produced a result: parameters, their hash and package versions, recorded beside every evaluation."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata


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
