"""``Selection``: narrow a server down step by step, then read counts, tag values, headers, pixels or files.

A selection is immutable: ``select()``, ``without()`` and ``sorted_by()`` return new selections and leave the
one they started from as it was. Nothing is read until a method needs it; then one ``/tools/find`` at the
instance level (with ``Expand``, and on Orthanc 1.11+ ``RequestedTags`` for the parents' main tags) tells the
whole hierarchy, and the answer is kept for this selection until ``refresh()``. On Orthanc 1.10, which has no
``RequestedTags``, one more request per selected series and per selected study fills in the parents.

Instances come in the server's order (the order ``/tools/find`` answered), or in the order asked with
``sorted_by()``; ``array()`` stacks slices along the slice normal unless ``sorted_by()`` asked otherwise.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from ..._bulk.slice_order import SliceGeometry, geometric_order
from ..._bulk.volume import require_numpy
from ..._core import async_backend as backend
from ..._core.errors import InvalidInputError
from ..._core.operation import parse_version
from ..._dicom.tags import find_tag, keyword_for, parse_tag
from ..._resources._async.find import iter_resources
from ..._resources._async.resources import DEFAULT_CONCURRENCY, Instance
from ..data import (
    UPPER_LEVEL_TAGS,
    SelectionCounts,
    SelectionError,
    Snapshot,
    check_criteria,
    check_keyword,
    is_absent,
    parsed,
    sort_key,
)

if TYPE_CHECKING:
    import numpy.typing as npt
    from pydicom.dataset import Dataset

    from ..._client._async.client import AsyncOrthanc

_REQUESTED_TAGS_SINCE = (1, 11, 0)


class Selection:
    """Some instances of a server, chosen by DICOM criteria, with everything above them.

    Make one with ``client.select(...)``; narrow it with ``select()``; read it with the methods below. Values
    in criteria are what ``find_*`` takes: strings with Orthanc's wildcards (``"DOE*"``), dates, ranges
    ``(start, end)``, lists for "any of".

    Example::

        ct = client.select(PatientID="DEMOCT01", Modality="CT")
        print(await ct.counts())                                    # SelectionCounts(patients=1, ...)
        print(await ct.values("SeriesDescription"))                 # ['Axial 1 mm']
        axial = ct.select(SeriesDescription="Axial*")
        volume = await axial.array(rescale=True)                    # (slices, rows, columns), float32
        first = await axial.sorted_by("InstanceNumber").header(0)   # pydicom Dataset, no pixels
    """

    def __init__(
        self,
        client: AsyncOrthanc,
        criteria: dict[str, Any] | None = None,
        *,
        sort: tuple[str, bool] | None = None,
    ) -> None:
        self.client = client
        self._criteria = check_criteria(criteria or {})
        if sort is not None:
            check_keyword(sort[0])
        self._sort = sort
        self._snapshot: Snapshot | None = None
        self._order: list[str] | None = None

    # --- building selections (no I/O) --------------------------------------------------------------------

    @property
    def criteria(self) -> dict[str, Any]:
        """The criteria, keyword -> value (a copy)."""
        return dict(self._criteria)

    @property
    def sort(self) -> tuple[str, bool] | None:
        """``(keyword, descending)`` as given to ``sorted_by()``, or ``None`` for the server's order."""
        return self._sort

    def select(self, **criteria: Any) -> Selection:
        """A narrower selection: these criteria added (a keyword given again replaces its value).

        Example::

            ct = client.select(PatientID="DEMOCT01").select(Modality="CT")
        """
        return Selection(self.client, {**self._criteria, **check_criteria(criteria)}, sort=self._sort)

    def without(self, *keywords: str) -> Selection:
        """A selection without these criteria (unknown ones are ignored), e.g. ``ct.without("Modality")``.

        Example::

            all_of_patient = client.select(PatientID="DEMOCT01", Modality="CT").without("Modality")
        """
        return Selection(
            self.client, {k: v for k, v in self._criteria.items() if k not in keywords}, sort=self._sort
        )

    def sorted_by(self, keyword: str | None, *, descending: bool = False) -> Selection:
        """The same instances ordered by a tag's value (typed by its VR: numbers by value), instances
        without the tag last; ``None`` goes back to the server's order.

        Example::

            axial = client.select(SeriesInstanceUID=series.uid)
            print(await axial.sorted_by("SliceLocation", descending=True).values("SliceLocation", unique=False))
        """
        other = Selection(self.client, self._criteria, sort=None if keyword is None else (keyword, descending))
        other._snapshot = self._snapshot  # same criteria, same instances: only the order differs
        return other

    def __repr__(self) -> str:
        sort = "" if self._sort is None else f", sort={self._sort!r}"
        return f"Selection({self._criteria!r}{sort})"

    # --- reading the server -----------------------------------------------------------------------------

    async def refresh(self) -> Self:
        """Re-reads the server for the same criteria and order (after uploads or deletes); returns ``self``."""
        self._snapshot = None
        self._order = None
        await self._read()
        return self

    async def _read(self) -> Snapshot:
        if self._snapshot is not None:
            return self._snapshot
        snapshot = Snapshot()
        requested = await self._takes_requested_tags()
        async for instance in iter_resources(
            self.client, Instance, self._criteria, requested_tags=UPPER_LEVEL_TAGS if requested else None
        ):
            snapshot.add_instance(instance.data)
        if not requested:
            await self._read_parents(snapshot)
        self._snapshot = snapshot
        self._order = None
        return snapshot

    async def _takes_requested_tags(self) -> bool:
        return parse_version(await self.client.server_version()) >= _REQUESTED_TAGS_SINCE

    async def _read_parents(self, snapshot: Snapshot) -> None:
        """Without ``RequestedTags``: each selected series, then each of their studies (few requests: one
        per series and per study, made concurrently)."""
        series_ids = snapshot.distinct(snapshot.series_of[i] for i in snapshot.instance_ids)
        for series in await self._get_all("series", series_ids):
            snapshot.add_series(series)
        study_ids = snapshot.distinct(snapshot.study_of[i] for i in snapshot.instance_ids if i in snapshot.study_of)
        for study in await self._get_all("studies", study_ids):
            snapshot.add_study(study)

    async def _get_all(self, plural: str, ids: list[str]) -> list[dict[str, Any]]:
        async def get(resource_id: str) -> dict[str, Any]:
            return dict(await self.client.request("GET", f"/{plural}/{resource_id}"))

        answers: dict[str, dict[str, Any]] = {}
        async for resource_id, answer in backend.map_unordered(get, ids, DEFAULT_CONCURRENCY):
            if isinstance(answer, BaseException):
                raise answer
            answers[resource_id] = answer
        return [answers[resource_id] for resource_id in ids]

    async def _ordered(self) -> tuple[Snapshot, list[str]]:
        snapshot = await self._read()
        if self._order is None:
            order = list(snapshot.instance_ids)
            if self._sort is not None:
                keyword, descending = self._sort
                values = await self._values_by_instance(snapshot, keyword)
                order.sort(key=lambda i: sort_key(parsed(keyword, values[i])))
                if descending:
                    # absent values stay last, whichever the direction
                    absent = {i for i in order if is_absent(values[i])}
                    order = [i for i in reversed(order) if i not in absent] + [i for i in order if i in absent]
            self._order = order
        return snapshot, self._order

    async def _values_by_instance(self, snapshot: Snapshot, keyword: str) -> dict[str, Any]:
        """Orthanc's string of ``keyword`` for every selected instance (``None`` where absent): from the find
        when it is a main tag, else one more find with ``RequestedTags`` (Orthanc 1.11+) or each instance's
        tags (1.10), remembered for this selection."""
        check_keyword(keyword)
        if not snapshot.known_tag(keyword):
            found: dict[str, Any] = {}
            if await self._takes_requested_tags():
                async for instance in iter_resources(
                    self.client, Instance, self._criteria, requested_tags=[keyword]
                ):
                    found[instance.id] = find_tag(instance.data.get("RequestedTags") or {}, keyword)[1]
            else:

                async def read(instance_id: str) -> Any:
                    tags = await self.client.request("GET", f"/instances/{instance_id}/tags")
                    return find_tag(tags, keyword)[1]

                async for instance_id, value in backend.map_unordered(
                    read, snapshot.instance_ids, DEFAULT_CONCURRENCY
                ):
                    if isinstance(value, BaseException):
                        raise value
                    found[instance_id] = value
            snapshot.more_tags[keyword] = found
        return {i: snapshot.value(i, keyword) for i in snapshot.instance_ids}

    async def counts(self) -> SelectionCounts:
        """Patients, studies, series and instances selected (from the cached find).

        Example::

            patients, studies, series_count, instances = await client.select(PatientID="DEMOCT01").counts()
        """
        return (await self._read()).counts()

    async def instance_ids(self) -> list[str]:
        """The selected instances' Orthanc IDs, in the selection's order."""
        return list((await self._ordered())[1])

    async def instances(self) -> list[Instance]:
        """The selected instances, loaded (their main tags cost no request), in the selection's order."""
        snapshot, order = await self._ordered()
        return [Instance(i, self.client, snapshot.instance_data[i]) for i in order]

    async def series_ids(self) -> list[str]:
        """The selected series' Orthanc IDs, in the order of their first instance."""
        snapshot, order = await self._ordered()
        return snapshot.distinct(snapshot.series_of[i] for i in order)

    async def study_ids(self) -> list[str]:
        """The selected studies' Orthanc IDs, in the order of their first instance."""
        snapshot, order = await self._ordered()
        return snapshot.distinct(snapshot.study_of[i] for i in order if i in snapshot.study_of)

    async def patient_ids(self) -> list[str]:
        """The selected patients' Orthanc IDs, in the order of their first instance."""
        snapshot, order = await self._ordered()
        return snapshot.distinct(snapshot.patient_of[i] for i in order if i in snapshot.patient_of)

    async def values(self, keyword: str, *, unique: bool = True, parse: bool = False) -> list[Any]:
        """A tag's values over the selection, in the selection's order: the distinct values (first seen
        first, absent values left out) or, with ``unique=False``, one per instance (``None`` where absent).
        ``parse=True`` types them by VR (numbers, dates, lists for several values).

        Main tags cost no request; any other tag one more ``/tools/find`` (Orthanc 1.11+) or one request per
        instance (1.10), once per selection.

        Example::

            print(await client.select(Modality="CT").values("SeriesDescription"))       # ['Axial 1 mm']
            axial = client.select(SeriesInstanceUID=series.uid).sorted_by("SliceLocation")
            print(await axial.values("SliceLocation", unique=False, parse=True))        # [0.0, 1.0, 2.0, ...]
        """
        snapshot, order = await self._ordered()
        by_instance = await self._values_by_instance(snapshot, keyword)
        values = [by_instance[i] for i in order]
        if parse:
            values = [parse_tag(keyword, v) if isinstance(v, str) else v for v in values]
        if not unique:
            return values
        distinct: list[Any] = []
        for value in values:
            if not is_absent(value) and value not in distinct:
                distinct.append(value)
        return distinct

    async def available_tags(self) -> list[str]:
        """The keywords of the tags present in the first instance of each selected series (one
        ``/instances/{id}/content`` listing per series, sorted by tag; tags without a keyword, e.g. private
        ones, left out): what ``values()`` can usefully ask for."""
        snapshot, order = await self._ordered()
        firsts = {snapshot.series_of[i]: i for i in reversed(order)}
        found: dict[str, str] = {}
        for instance_id in reversed(list(firsts.values())):
            for entry in await self.client.request("GET", f"/instances/{instance_id}/content"):
                hex_tag = str(entry).replace("-", ",").lower()
                keyword = keyword_for(hex_tag)
                if keyword and hex_tag not in found:
                    found[hex_tag] = keyword
        return [found[key] for key in sorted(found)]

    # --- headers, pixels, files ------------------------------------------------------------------------

    async def headers(self, *, concurrency: int = DEFAULT_CONCURRENCY) -> list[Dataset]:
        """Every selected instance's header as a ``pydicom.Dataset`` without pixel data (read from the stored
        file: exact VRs, private tags and file meta), in the selection's order. Needs pydicom.

        Example::

            axial = client.select(SeriesInstanceUID=series.uid).sorted_by("SliceLocation")
            print([ds.SliceLocation for ds in await axial.headers()])
        """
        _, order = await self._ordered()
        return await self._headers(order, concurrency)

    async def header(self, index: int = 0) -> Dataset:
        """The header of the ``index``-th selected instance (negative counts from the end); ``SelectionError``
        when there is no such instance.

        Example::

            first = await client.select(PatientID="DEMOCT01").header(0)
            print(first.PatientName)
        """
        _, order = await self._ordered()
        if not -len(order) <= index < len(order):
            raise SelectionError(f"no instance at index {index}: {len(order)} instances selected")
        return (await self._headers([order[index]], 1))[0]

    async def _headers(self, ids: list[str], concurrency: int) -> list[Dataset]:
        try:
            import pydicom
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("headers as pydicom datasets need pydicom: pip install 'orthanc-client[dicom]'") from exc

        async def read(instance_id: str) -> Dataset:
            data = await self.client.get_instances_id_file(instance_id)
            return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)

        found: dict[str, Dataset] = {}
        async for instance_id, dataset in backend.map_unordered(read, ids, concurrency):
            if isinstance(dataset, BaseException):
                raise dataset
            found[instance_id] = dataset
        return [found[i] for i in ids]

    async def array(self, *, rescale: bool = False, concurrency: int = DEFAULT_CONCURRENCY) -> npt.NDArray[Any]:
        """The selected instances of one series as a ``(slices, rows, columns)`` volume (a 4th axis for color),
        read with the fast path of ``Series.to_numpy``: slices along the slice normal, or in the order of
        ``sorted_by()``; only the selected instances of the series. ``rescale`` applies RescaleSlope and
        Intercept (float32). ``SelectionError`` unless exactly one series is selected. Needs numpy.

        Example::

            volume = await client.select(SeriesInstanceUID=series.uid).array(rescale=True)
        """
        from ..._bulk._async.numpy_io import _series_from_files

        snapshot, order = await self._ordered()
        series = snapshot.distinct(snapshot.series_of[i] for i in order)
        if len(series) != 1:
            raise SelectionError(f"array() needs exactly one series, {len(series)} are selected")
        instances = [Instance(i, self.client, snapshot.instance_data[i]) for i in order]
        if self._sort is None:
            geometry = [
                SliceGeometry(i.image_position_patient, i.image_orientation_patient, i.instance_number)
                for i in instances
            ]
            instances = [instances[k] for k in geometric_order(geometry)]
        volume = await _series_from_files(
            require_numpy(), instances, rescale, concurrency, self.client._direct_origin()
        )
        assert volume is not None  # only asked for None with unless_compressed
        return volume

    async def download(
        self, folder: str | os.PathLike[str], *, concurrency: int = DEFAULT_CONCURRENCY
    ) -> list[Path]:
        """Writes each selected instance as ``<folder>/<instance-id>.dcm`` (the folder is created), files
        fetched ``concurrency`` at a time; returns their absolute paths in the selection's order.

        Example::

            files = await client.select(PatientID="DEMOCT01").download("out")
        """
        _, order = await self._ordered()
        root = Path(os.fspath(folder)).absolute()
        root.mkdir(parents=True, exist_ok=True)

        async def fetch(instance_id: str) -> Path:
            target = root / f"{instance_id}.dcm"
            async with self.client.stream_get_instances_id_file(instance_id) as answer:
                await answer.write_to(target)
            return target

        written: dict[str, Path] = {}
        async for instance_id, result in backend.map_unordered(fetch, order, concurrency):
            if isinstance(result, BaseException):
                raise result
            written[instance_id] = result
        return [written[i] for i in order]

    # --- deleting exactly one resource -------------------------------------------------------------------

    async def delete_patient(self) -> str:
        """Deletes the selected patient, with all its studies (also those not selected); returns its ID.
        ``SelectionError``, and nothing deleted, unless exactly one patient is selected."""
        return await self._delete_one("patients", await self.patient_ids())

    async def delete_study(self) -> str:
        """Deletes the selected study, with all its series; ``SelectionError`` unless exactly one is selected."""
        return await self._delete_one("studies", await self.study_ids())

    async def delete_series(self) -> str:
        """Deletes the selected series, with all its instances; ``SelectionError`` unless exactly one is
        selected.

        Example::

            copy = await series.modify(replace={"SeriesDescription": "scratch"})
            await client.select(SeriesInstanceUID=copy.uid).delete_series()
        """
        return await self._delete_one("series", await self.series_ids())

    async def _delete_one(self, plural: str, ids: list[str]) -> str:
        if len(ids) != 1:
            raise SelectionError(f"{len(ids)} {plural} selected: deleting needs exactly one")
        if not all(ids):
            raise InvalidInputError(f"the selected {plural} could not be identified")
        await self.client.request("DELETE", f"/{plural}/{ids[0]}")
        self._snapshot = None  # what was selected is gone: the next read asks the server again
        self._order = None
        return ids[0]
