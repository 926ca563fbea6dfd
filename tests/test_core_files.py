"""core.files (atomic outputs) and core.safepickle (restricted unpickler)."""

import os
import pickle

import pytest

from jaxgeo.core import files, safepickle


def test_atomic_file_renamed_only_on_success(tmp_path):
    target = tmp_path / "a" / "out.txt"
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list((tmp_path / "a").iterdir()) == []  # no temporary left behind
    files.write_json(target, {"x": 1.5})
    assert target.read_text().strip().startswith("{")
    assert list((tmp_path / "a").iterdir()) == [target]


def test_atomic_directory_replaces_old_one(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "old").write_text("x")
    with files.atomic_path(target, directory=True) as tmp:
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    with pytest.raises(FileExistsError):
        with files.atomic_path(target, directory=True, overwrite=False):
            pass


def test_plain_pickle_round_trip(tmp_path):
    data = [[[1.0, 2], [3, 4.5]], ("a", None, True), {300.0: 1.25e3}, {1, 2}, b"xy"]
    path = tmp_path / "g.pkl"
    path.write_bytes(pickle.dumps(data))
    assert safepickle.load_plain_pickle(path) == data


class _Opens:
    """Unpickling this would create a file (a stand-in for any code a pickle can run)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([1, _Opens(str(marker))]))
    with pytest.raises(safepickle.UnsafePickleError, match="evil.pkl.*open"):
        safepickle.load_plain_pickle(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps(os.getcwd)[:5])
    with pytest.raises(safepickle.UnsafePickleError):
        safepickle.load_plain_pickle(path)
