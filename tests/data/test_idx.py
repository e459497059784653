from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from losskit.data.idx import parse_idx, read_idx, write_idx
from tests.data.helpers import idx_bytes


def test_hand_written_uint8_images_gz_and_raw(tmp_path):
    # 2 images of 2x3, pixel values chosen by hand.
    payload = bytes([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(12))
    raw, gz = tmp_path / "img-idx3-ubyte", tmp_path / "img-idx3-ubyte.gz"
    raw.write_bytes(payload)
    gz.write_bytes(gzip.compress(payload))
    expected = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    for path in (raw, gz):
        arr = read_idx(path)
        assert arr.dtype == np.uint8 and arr.shape == (2, 2, 3)
        np.testing.assert_array_equal(arr, expected)


def test_gzip_detected_by_content_not_name(tmp_path):
    payload = bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 8, 9])
    path = tmp_path / "labels-without-suffix"
    path.write_bytes(gzip.compress(payload))
    np.testing.assert_array_equal(read_idx(path), [7, 8, 9])


def test_big_endian_int32_and_float64():
    ints = np.array([[1, -2], [70000, -70000]], dtype=np.int32)
    header = bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 2, 2)
    data = header + struct.pack(">4i", 1, -2, 70000, -70000)
    out = parse_idx(data)
    assert out.dtype == np.dtype("int32") and out.dtype.isnative
    np.testing.assert_array_equal(out, ints)
    floats = np.array([0.5, -1.25e10, np.pi])
    out = parse_idx(idx_bytes(floats, 0x0E, ">f8"))
    np.testing.assert_array_equal(out, floats)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_read_roundtrip(tmp_path, dtype, suffix):
    arr = (np.arange(24).reshape(2, 3, 4) * 3 - 5).astype(dtype)
    path = write_idx(tmp_path / f"a{suffix}", arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    out = read_idx(path)
    assert out.dtype == arr.dtype
    np.testing.assert_array_equal(out, arr)


def test_writer_matches_hand_written_bytes(tmp_path):
    arr = np.array([[3, 1], [4, 1]], dtype=np.uint8)
    path = write_idx(tmp_path / "x", arr)
    assert path.read_bytes() == idx_bytes(arr, 0x08, ">u1")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x01\x00\x08\x01", "magic"),
        (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "type code"),
        (bytes([0, 0, 0x08, 2, 0, 0, 0, 1]), "header"),
        (bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2]), "expected 3"),
    ],
)
def test_malformed_files_raise_valueerror_naming_source(data, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_idx(data, source="some/file")
    assert "some/file" in str(err.value)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.gz"
    with pytest.raises(FileNotFoundError, match="nope.gz"):
        read_idx(path)
