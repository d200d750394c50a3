import json
import os

import pytest
import torch

from mosaicfocus.artifacts import atomic_path, load_artifact, load_weights, require_meta, save_artifact, save_weights
from mosaicfocus.errors import ArtifactError
from mosaicfocus.what_network.model import build_model


def make(path):
    save_artifact(path, "dataset", {"images": torch.rand(4, 3, 32, 32), "labels": torch.arange(4)}, {"dataset": 2})


def test_round_trip_keeps_tensors_and_meta(tmp_path):
    path = tmp_path / "d.pt"
    images = torch.rand(4, 3, 32, 32)
    save_artifact(path, "dataset", {"images": images, "labels": torch.arange(4)}, {"dataset": 2})
    tensors, meta = load_artifact(path, "dataset", expect={"images": ((None, 3, 32, 32), torch.float32)})
    assert torch.equal(tensors["images"], images) and meta == {"dataset": 2}
    assert torch.load(path, weights_only=True)["kind"] == "dataset"


def test_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "d.pt"
    make(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match=r"d\.pt: cannot be read.*truncated or corrupt"):
        load_artifact(path, "dataset")


def test_flipped_tensor_byte_fails_the_checksum(tmp_path):
    path = tmp_path / "d.pt"
    payload = {"images": torch.zeros(4, 3, 32, 32), "labels": torch.arange(4)}
    save_artifact(path, "dataset", payload, {})
    raw = torch.load(path, weights_only=True)
    raw["tensors"]["images"][0, 0, 0, 0] = 0.5  # altered after writing, metadata kept
    torch.save(raw, path)
    with pytest.raises(ArtifactError, match="images.*CRC-32"):
        load_artifact(path, "dataset")


def test_wrong_kind_and_wrong_shape_are_refused(tmp_path):
    path = tmp_path / "d.pt"
    make(path)
    with pytest.raises(ArtifactError, match="expected a mosaics file, found 'dataset'"):
        load_artifact(path, "mosaics")
    with pytest.raises(ArtifactError, match="expected \\[None, 9, 3, 32, 32\\]"):
        load_artifact(path, "dataset", expect={"images": ((None, 9, 3, 32, 32), torch.float32)})


def test_missing_file_and_foreign_config(tmp_path):
    with pytest.raises(ArtifactError, match="missing"):
        load_artifact(tmp_path / "nope.pt", "dataset")
    with pytest.raises(ArtifactError, match="dataset=3.*needs dataset=4"):
        require_meta(tmp_path / "x.pt", {"dataset": 3}, dataset=4)


def test_pickled_code_is_never_executed(tmp_path):
    path = tmp_path / "evil.pt"
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"kind": "dataset", "x": Exploit()}, path)
    with pytest.raises(ArtifactError, match="cannot be read"):
        load_artifact(path, "dataset")
    assert not marker.exists()


def test_weights_are_a_plain_state_dict_with_a_checked_sidecar(tmp_path):
    path = tmp_path / "model_3.pt"
    state = build_model(3, 1).state_dict()
    record = tmp_path / "model_3.json"
    save_weights(path, record, state, {"trained_on": 3})
    plain = torch.load(path, weights_only=True)
    assert set(plain) == set(state)
    loaded, meta = load_weights(path, record)
    assert meta == {"trained_on": 3} and torch.equal(loaded["fc4.bias"], state["fc4.bias"])
    tampered = dict(plain)
    tampered["fc4.bias"] = tampered["fc4.bias"] + 1
    torch.save(tampered, path)
    with pytest.raises(ArtifactError, match="fc4.bias.*CRC-32"):
        load_weights(path, record)
    record.unlink()
    with pytest.raises(ArtifactError, match="model_3.json: missing"):
        load_weights(path, record)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps({"ok": 1}))
    assert json.loads(target.read_text()) == {"ok": 1} and list(tmp_path.iterdir()) == [target]


def test_equal_tensors_give_byte_identical_files(tmp_path):
    # torch.save given a path names the zip's inner folder after the random temp file.
    state = build_model(3, 1).state_dict()
    for folder in ("a", "b"):
        save_weights(tmp_path / folder / "model_1.pt", tmp_path / folder / "model_1.json", state, {"trained_on": 1})
    assert (tmp_path / "a" / "model_1.pt").read_bytes() == (tmp_path / "b" / "model_1.pt").read_bytes()
    images = torch.linspace(-1, 1, 4 * 3 * 32 * 32).view(4, 3, 32, 32)
    for folder in ("a", "b"):
        save_artifact(tmp_path / folder / "d.pt", "dataset", {"images": images}, {"dataset": 2})
    assert (tmp_path / "a" / "d.pt").read_bytes() == (tmp_path / "b" / "d.pt").read_bytes()


def test_finished_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        make(tmp_path / "d.pt")
    finally:
        os.umask(old)
    assert (tmp_path / "d.pt").stat().st_mode & 0o777 == 0o644


def test_temp_file_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    leftover = tmp_path / ".d.pt.k1ll3d.tmp"
    leftover.write_bytes(b"half a file")
    other = tmp_path / ".e.pt.k1ll3d.tmp"
    other.write_bytes(b"another target's")
    make(tmp_path / "d.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".e.pt.k1ll3d.tmp", "d.pt"]
