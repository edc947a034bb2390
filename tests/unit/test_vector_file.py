"""The float16 vector file the compressed shard tier re-ranks against."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexing.vector_file import INITIAL_ROWS, VectorFile


def test_rows_read_back_as_their_float16_values_in_any_order(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((10, 8)).astype(np.float32)
    x[0] = [0.0, -0.0, 1e-6, -3e-7, 6e-5, 65504.0, -1.5, 1.0]  # zeros, subnormals, the largest half
    f = VectorFile(tmp_path / "v.f16", 8)
    f.write(np.arange(10), x)
    ids = np.array([7, 0, 3])
    assert np.array_equal(f.read(ids), x[ids].astype(np.float16).astype(np.float32))
    assert f.disk_bytes == 10 * 8 * 2


def test_the_file_grows_past_its_first_mapping_and_close_deletes_it(tmp_path: Path) -> None:
    f = VectorFile(tmp_path / "v.f16", 4)
    rows = np.random.default_rng(1).standard_normal((3 * INITIAL_ROWS, 4)).astype(np.float32)
    for start in range(0, len(rows), 1000):  # small appends, as ingest makes them
        f.write(np.arange(start, min(start + 1000, len(rows))), rows[start:start + 1000])
    ids = np.array([0, INITIAL_ROWS, len(rows) - 1])
    assert np.allclose(f.read(ids), rows[ids], atol=1e-3)
    f.close()
    assert not (tmp_path / "v.f16").exists()
