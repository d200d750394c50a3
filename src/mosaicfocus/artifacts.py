"""Intermediate files: tensors plus the metadata needed to trust them.

Every file the workflow writes between stages is a ``torch.save`` of a plain
dict ``{"kind", "format", "meta", "tensors", "checks"}``:

- ``kind`` says what the file is (``source``, ``mosaics``, ``dataset``, ``model``),
- ``meta`` records the configuration that produced it,
- ``checks`` holds each tensor's shape, dtype and CRC-32, so a truncated,
  hand-edited or bit-flipped file is refused with its name instead of
  silently producing a wrong number.

Files are loaded with ``weights_only=True``: loading never runs pickled code.
Writes go to a temporary file in the same folder and are renamed into place,
so a crash never leaves a half-written file that looks finished.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

import torch

from mosaicfocus.errors import ArtifactError
from mosaicfocus.files import atomic_path, temp_files_of, write_json_atomic, write_text_atomic

__all__ = ["atomic_path", "temp_files_of", "write_json_atomic", "write_text_atomic"]

FORMAT_VERSION = 1


def tensor_crc32(tensor: torch.Tensor) -> int:
    data = tensor.detach().cpu().contiguous()
    # A byte view works for every dtype (numpy has no bfloat16, for one).
    return zlib.crc32(memoryview(data.view(-1).view(torch.uint8).numpy()))


def describe(tensor: torch.Tensor) -> dict:
    return {
        "shape": list(tensor.shape),
        "dtype": str(tensor.dtype).removeprefix("torch."),
        "crc32": tensor_crc32(tensor),
    }


def torch_save_atomic(obj, path: str | os.PathLike) -> None:
    """``torch.save`` through a file handle: given a path, torch names the zip's inner
    folder after the (random) temporary file, and equal tensors would give unequal bytes."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


def save_artifact(
    path: str | os.PathLike,
    kind: str,
    tensors: Mapping[str, torch.Tensor],
    meta: Mapping | None = None,
) -> None:
    tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    payload = {
        "kind": kind,
        "format": FORMAT_VERSION,
        "meta": dict(meta or {}),
        "tensors": tensors,
        "checks": {name: describe(t) for name, t in tensors.items()},
    }
    torch_save_atomic(payload, path)


def load_artifact(
    path: str | os.PathLike,
    kind: str,
    expect: Mapping[str, tuple] | None = None,
) -> tuple[dict[str, torch.Tensor], dict]:
    """Load and check an artifact; return ``(tensors, meta)``.

    ``expect`` maps tensor names to ``(shape, dtype)``; ``None`` in a shape
    accepts any size on that axis.
    """
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file is missing; rerun the workflow to produce it.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, garbage bytes, pickled code, ...
        raise ArtifactError(
            f"{path}: cannot be read as a {kind} file ({type(exc).__name__}: {exc}). "
            f"It is truncated or corrupt; delete it and rerun the workflow to rebuild it."
        ) from None
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        found = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise ArtifactError(
            f"{path}: expected a {kind} file, found {found!r}. Delete it and rerun the workflow to rebuild it."
        )
    if payload.get("format") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: file format {payload.get('format')!r}, this code reads {FORMAT_VERSION}; "
            f"delete it and rerun the workflow."
        )
    tensors, checks = payload.get("tensors"), payload.get("checks")
    if not isinstance(tensors, dict) or not isinstance(checks, dict) or set(tensors) != set(checks):
        raise ArtifactError(f"{path}: tensor table is damaged; delete it and rerun the workflow.")
    for name, tensor in tensors.items():
        recorded = checks[name]
        actual_dtype = str(tensor.dtype).removeprefix("torch.")
        if list(tensor.shape) != recorded.get("shape") or actual_dtype != recorded.get("dtype"):
            raise ArtifactError(
                f"{path}: tensor {name!r} is {list(tensor.shape)} {actual_dtype}, "
                f"but the file records {recorded.get('shape')} {recorded.get('dtype')}; "
                f"delete it and rerun the workflow."
            )
        if tensor_crc32(tensor) != recorded.get("crc32"):
            raise ArtifactError(
                f"{path}: tensor {name!r} fails its CRC-32 check (the file was altered or "
                f"damaged after it was written); delete it and rerun the workflow."
            )
    for name, (shape, dtype) in (expect or {}).items():
        if name not in tensors:
            raise ArtifactError(f"{path}: has no tensor {name!r}; delete it and rerun the workflow.")
        tensor = tensors[name]
        if (
            tensor.dtype != dtype
            or tensor.dim() != len(shape)
            or any(want is not None and want != got for want, got in zip(shape, tensor.shape))
        ):
            raise ArtifactError(
                f"{path}: tensor {name!r} is {list(tensor.shape)} {tensor.dtype}, "
                f"expected {list(shape)} {dtype}; delete it and rerun the workflow."
            )
    return tensors, payload.get("meta", {})


def require_meta(path: str | os.PathLike, meta: Mapping, **expected) -> None:
    """Refuse a file made by another configuration than the one now asked for."""
    for key, want in expected.items():
        got = meta.get(key)
        if got != want:
            raise ArtifactError(
                f"{path}: was made with {key}={got!r}, but this job needs {key}={want!r}. "
                f"It is stale or was put there by hand; delete it and rerun the workflow."
            )


def save_weights(
    path: str | os.PathLike, record: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], meta: Mapping
) -> None:
    """A plain ``state_dict`` file (``torch.load(path, weights_only=True)`` gives it back)
    plus a JSON record with what made it and a check of every tensor."""
    state = {name: t.detach().cpu().contiguous() for name, t in state_dict.items()}
    write_json_atomic(
        record,
        {
            "kind": "weights",
            "format": FORMAT_VERSION,
            "meta": dict(meta),
            "checks": {name: describe(t) for name, t in state.items()},
        },
    )
    torch_save_atomic(state, path)


def load_weights(path: str | os.PathLike, record: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Load a weight file and check it against its record; return ``(state_dict, meta)``."""
    path, sidecar = Path(path), Path(record)
    try:
        content = json.loads(sidecar.read_text())
        checks = content["checks"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(
            f"{sidecar}: missing or unreadable ({type(exc).__name__}: {exc}); "
            f"delete {path} and rerun the workflow to retrain it."
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(
            f"{path}: cannot be read as a weight file ({type(exc).__name__}: {exc}). "
            f"It is truncated or corrupt; delete it and rerun the workflow to retrain it."
        ) from None
    if not isinstance(state, dict) or set(state) != set(checks):
        raise ArtifactError(f"{path}: its tensors do not match {sidecar.name}; delete it and rerun the workflow.")
    for name, tensor in state.items():
        if describe(tensor) != checks[name]:
            raise ArtifactError(
                f"{path}: tensor {name!r} does not match the shape, dtype or CRC-32 recorded in "
                f"{sidecar.name} (altered or damaged); delete it and rerun the workflow."
            )
    return state, content.get("meta", {})
