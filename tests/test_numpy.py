"""Series/Instance to numpy against real Orthanc servers: values and geometric slice order vs ground truth."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest

import orthanc_client.aio as aio
from orthanc_client import Instance, Series
from orthanc_client._bulk.npy_header import parse_npy_header
from orthanc_client._bulk.slice_order import SliceGeometry, geometric_order
from orthanc_client._bulk.volume import permute_in_place
from orthanc_client.testing import OrthancServer
from orthanc_client.testing.dicom import make_series

from .test_resources_support import async_client, sync_client, upload


def test_series_uploaded_shuffled_comes_back_in_geometric_order(clean_orthanc: OrthancServer) -> None:
    # Negative spacing: InstanceNumber order is the reverse of the geometric (ascending normal) order.
    synthetic = make_series(9, rows=16, columns=12, slice_spacing=-1.5, rescale_slope=2.0, rescale_intercept=-7.0)
    datasets = list(synthetic.datasets)
    random.Random(5).shuffle(datasets)
    series_id = upload(clean_orthanc, datasets)[0]["ParentSeries"]
    expected = synthetic.volume[::-1]
    with sync_client(clean_orthanc) as client:
        volume = Series(series_id, client).to_numpy()
        assert volume.shape == (9, 16, 12)
        np.testing.assert_array_equal(volume, expected)
        rescaled = Series(series_id, client).to_numpy(rescale=True)
        np.testing.assert_allclose(rescaled, expected.astype(np.float64) * 2.0 - 7.0)
        first = min(Series(series_id, client).instances, key=lambda i: i.instance_number or 0)
        pixels = Instance(first.id, client).to_numpy()
        np.testing.assert_array_equal(pixels.reshape(16, 12), synthetic.volume[0])


async def test_async_series_to_numpy(clean_orthanc: OrthancServer) -> None:
    synthetic = make_series(5, rows=8, columns=8, slice_spacing=2.0)
    datasets = list(synthetic.datasets)
    random.Random(1).shuffle(datasets)
    series_id = upload(clean_orthanc, datasets)[0]["ParentSeries"]
    from orthanc_client._bulk._async import numpy_io

    async with async_client(clean_orthanc) as client:
        volume = await aio.Series(series_id, client).to_numpy()
        server = await numpy_io.series_to_numpy(aio.Series(series_id, client), rescale=False, concurrency=2,
                                                strategy="server")
    np.testing.assert_array_equal(volume, synthetic.volume)
    np.testing.assert_array_equal(server, synthetic.volume)


def test_geometric_order_falls_back_to_instance_number() -> None:
    axial = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    slices = [SliceGeometry((0, 0, z), axial, n) for z, n in [(5.0, 1), (-1.0, 2), (2.0, 3)]]
    assert geometric_order(slices) == [1, 2, 0]
    no_geometry = [SliceGeometry(None, None, n) for n in (3, 1, 2)]
    assert geometric_order(no_geometry) == [1, 2, 0]
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # normal along -x
    assert geometric_order([SliceGeometry((x, 0, 0), sagittal, i) for i, x in enumerate([1.0, 3.0, 2.0])]) == [1, 2, 0]


def test_in_place_permutation_and_npy_header() -> None:
    volume = np.arange(5 * 4).reshape(5, 4)
    source = [3, 0, 4, 1, 2]
    expected = volume[source].copy()
    permute_in_place(volume, source)
    np.testing.assert_array_equal(volume, expected)
    with pytest.raises(ValueError):
        permute_in_place(volume, [0, 0, 1, 2, 3])
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 3), dtype="<f4"))
    header = parse_npy_header(buffer.getvalue())
    assert header is not None and header.shape == (2, 3) and header.dtype == "<f4"
    assert parse_npy_header(buffer.getvalue()[:9]) is None


@pytest.mark.parametrize("strategy", ["files", "server"])
def test_series_strategies_agree_on_values_order_and_dtype(clean_orthanc: OrthancServer, strategy: str) -> None:
    from orthanc_client._bulk._sync import numpy_io

    synthetic = make_series(7, rows=10, columns=6, slice_spacing=-2.0, dtype="int16", rescale_slope=0.5,
                            rescale_intercept=3.0)
    datasets = list(synthetic.datasets)
    random.Random(3).shuffle(datasets)
    series_id = upload(clean_orthanc, datasets)[0]["ParentSeries"]
    expected = synthetic.volume[::-1]
    with sync_client(clean_orthanc) as client:
        volume = numpy_io.series_to_numpy(Series(series_id, client), rescale=False, concurrency=3, strategy=strategy)
        assert volume.dtype == np.int16  # the stored type
        np.testing.assert_array_equal(volume, expected)
        rescaled = numpy_io.series_to_numpy(Series(series_id, client), rescale=True, concurrency=3, strategy=strategy)
        assert rescaled.dtype == np.float32
        # Orthanc 1.10 rounds rescaled values on /numpy; the files strategy (the default with rescale) is exact
        tolerance = 0.5 if strategy == "server" and clean_orthanc.version.startswith("1.10.") else 0.0
        np.testing.assert_allclose(rescaled, expected.astype(np.float64) * 0.5 + 3.0, rtol=1e-6, atol=tolerance)


def test_compressed_files_are_decoded_elsewhere_and_fill_their_slots(clean_orthanc: OrthancServer) -> None:
    from pydicom.uid import RLELossless

    synthetic = make_series(6, rows=6, columns=5, slice_spacing=1.0, rescale_slope=2.0, rescale_intercept=1.0)
    datasets = list(synthetic.datasets)
    for dataset in datasets[::2]:  # every other file compressed: both routes write into the same volume
        dataset.compress(RLELossless)
    random.Random(2).shuffle(datasets)
    series_id = upload(clean_orthanc, datasets)[0]["ParentSeries"]
    with sync_client(clean_orthanc) as client:
        np.testing.assert_array_equal(Series(series_id, client).to_numpy(), synthetic.volume)
        rescaled = Series(series_id, client).to_numpy(rescale=True)
        assert rescaled.dtype == np.float32
        np.testing.assert_allclose(rescaled, synthetic.volume.astype(np.float64) * 2.0 + 1.0)


def test_unknown_strategy_is_refused_before_any_request(clean_orthanc: OrthancServer) -> None:
    from orthanc_client import InvalidInputError
    from orthanc_client._bulk._sync import numpy_io

    with sync_client(clean_orthanc) as client, pytest.raises(InvalidInputError, match="strategy"):
        numpy_io.series_to_numpy(Series("0" * 8 + "-00000000" * 4, client), rescale=False, concurrency=1, strategy="pixels")


def test_pixel_header_parser_implicit_vr_sequences_and_unused_bits() -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ImplicitVRLittleEndian

    from orthanc_client._bulk.volume import fix_unused_bits
    from orthanc_client._dicom.pixel_header import NotNativeError, parse_pixel_header
    from orthanc_client.testing.dicom import to_bytes

    ds = make_series(1, rows=3, columns=4).datasets[0]
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    item = Dataset()
    item.CodeValue = "X"
    ds.ProcedureCodeSequence = Sequence([item])
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 1
    stored = np.array([[0x0FFF, 0x0800, 5, 0]] * 3, dtype="<u2")
    ds.PixelData = stored.tobytes()
    data = to_bytes(ds)
    header = parse_pixel_header(data)
    assert header is not None and header.shape == (1, 3, 4) and header.dtype == "<i2" and header.bits_stored == 12
    assert header.slope == 1.0 and header.intercept == 0.0
    pixels = np.frombuffer(data, dtype=header.dtype, count=12, offset=header.offset).reshape(header.shape).copy()
    fix_unused_bits(pixels, header.bits_stored)
    assert pixels[0, 0].tolist() == [-1, -2048, 5, 0]
    assert parse_pixel_header(data[: header.offset - 1]) is None  # needs more bytes
    ds.PhotometricInterpretation = "YBR_FULL"
    with pytest.raises(NotNativeError):
        parse_pixel_header(to_bytes(ds))


def test_with_a_callers_own_http_client_the_default_is_orthancs_route(clean_orthanc: OrthancServer) -> None:
    """A caller's own httpx client (here: event hooks) rules out the direct path: Orthanc's /series/{id}/numpy
    (3 requests); with rescale the files through the client, rescaled exactly here."""
    import httpx

    from orthanc_client import Orthanc

    synthetic = make_series(6, rows=8, columns=8, slice_spacing=-2.0, rescale_slope=0.5, rescale_intercept=-3.0)
    datasets = list(synthetic.datasets)
    random.Random(2).shuffle(datasets)
    series_id = upload(clean_orthanc, datasets)[0]["ParentSeries"]
    paths: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: paths.append(request.url.path)]})
    with Orthanc(clean_orthanc.url, clean_orthanc.username, clean_orthanc.password, http_client=http) as client:
        volume = Series(series_id, client).to_numpy()
        np.testing.assert_array_equal(volume, synthetic.volume[::-1])
        # the geometry, Orthanc's slice order and its pixels, sent at once
        assert len(paths) == 3 and sorted(p.rsplit("/", 1)[-1] for p in paths) == [
            "instances", "numpy", "ordered-slices"], paths
        paths.clear()
        rescaled = Series(series_id, client).to_numpy(rescale=True)
        np.testing.assert_array_equal(rescaled, synthetic.volume[::-1].astype(np.float32) * 0.5 - 3.0)
        assert rescaled.dtype == np.float32
        assert sum(p.endswith("/file") for p in paths) == 6 and not any(p.endswith("/numpy") for p in paths)


def _requests(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The requests the client logged (one DEBUG line per answer), ``"direct"`` ones marked."""
    return [r.getMessage() for r in caplog.records if r.name == "orthanc_client" and " -> " in r.getMessage()]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_default_reads_the_files_straight_into_the_volume(
    clean_orthanc: OrthancServer, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="orthanc_client")
    synthetic = make_series(7, rows=20, columns=12, slice_spacing=-1.0, dtype="int16",
                            rescale_slope=0.25, rescale_intercept=-2.0)
    datasets = list(synthetic.datasets)
    random.Random(4).shuffle(datasets)
    series_id = upload(clean_orthanc, datasets)[0]["ParentSeries"]
    expected = synthetic.volume[::-1]
    if kind == "sync":
        with sync_client(clean_orthanc) as client:
            volume = Series(series_id, client).to_numpy()
            requests = _requests(caplog)
            rescaled = Series(series_id, client).to_numpy(rescale=True)
    else:
        async with async_client(clean_orthanc) as aclient:
            volume = await aio.Series(series_id, aclient).to_numpy()
            requests = _requests(caplog)
            rescaled = await aio.Series(series_id, aclient).to_numpy(rescale=True)
    np.testing.assert_array_equal(volume, expected)
    assert volume.dtype == np.int16
    direct = [r for r in requests if "direct" in r]
    assert len(direct) == 7 and all("/file -> 200" in r for r in direct), requests
    assert len(requests) == 8 and not any("/numpy" in r for r in requests)  # + the geometry
    assert rescaled.dtype == np.float32
    np.testing.assert_allclose(rescaled, expected.astype(np.float64) * 0.25 - 2.0)
    assert sum("direct" in r for r in _requests(caplog)) == 14


def test_direct_reads_that_fail_are_asked_again_through_the_client(
    clean_orthanc: OrthancServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orthanc_client._core.fastpath import connections as _direct_http

    caplog.set_level(logging.DEBUG, logger="orthanc_client")
    synthetic = make_series(6, rows=9, columns=7, slice_spacing=2.0)
    series_id = upload(clean_orthanc, synthetic.datasets)[0]["ParentSeries"]
    original = _direct_http.DirectConnection.get
    calls = []

    def flaky(connection: _direct_http.DirectConnection, path: str) -> _direct_http.Body:
        calls.append(path)
        if len(calls) == 3:
            raise _direct_http.DirectReadError("simulated")
        return original(connection, path)

    monkeypatch.setattr(_direct_http.DirectConnection, "get", flaky)
    with sync_client(clean_orthanc) as client:
        volume = Series(series_id, client).to_numpy(concurrency=1)
    np.testing.assert_array_equal(volume, synthetic.volume)
    requests = _requests(caplog)
    # two read directly; the third failed: it and the three not started yet go through the client
    assert len(calls) == 3 and sum("direct" in r for r in requests) == 2
    assert sum(r.endswith("ms)") and "/file" in r for r in requests) == 4


def test_default_sends_a_compressed_series_to_orthancs_route(
    clean_orthanc: OrthancServer, caplog: pytest.LogCaptureFixture
) -> None:
    from pydicom.uid import RLELossless

    caplog.set_level(logging.DEBUG, logger="orthanc_client")
    synthetic = make_series(5, rows=6, columns=5, slice_spacing=1.0)
    datasets = list(synthetic.datasets)
    for dataset in datasets:
        dataset.compress(RLELossless)
    series_id = upload(clean_orthanc, datasets)[0]["ParentSeries"]
    with sync_client(clean_orthanc) as client:
        np.testing.assert_array_equal(Series(series_id, client).to_numpy(), synthetic.volume)
    requests = _requests(caplog)
    # geometry, the first file (read directly, compressed), then Orthanc's slice order and its /numpy
    assert len(requests) == 4 and "direct" in requests[1], requests
    assert sorted(r.split(" -> ")[0].rsplit("/", 1)[-1] for r in requests[2:]) == ["numpy", "ordered-slices"]


@pytest.mark.parametrize("strategy", ["auto", "server"])
def test_a_missing_series_is_not_found_on_either_route(clean_orthanc: OrthancServer, strategy: str) -> None:
    from orthanc_client import NotFoundError
    from orthanc_client._bulk._sync import numpy_io

    with sync_client(clean_orthanc) as client, pytest.raises(NotFoundError):
        numpy_io.series_to_numpy(Series("0" * 8 + "-00000000" * 4, client), rescale=False, concurrency=2,
                                 strategy=strategy)
