"""``Orthanc``: simple-orthanc 0.9.9.6's stateful selection object, over ``orthanc_client.Selection``.

The object holds the current criteria and sort order; every query goes through a native ``Selection`` (one
``/tools/find`` per narrowing, cached until ``refresh()``), pixels through the fast ``array()`` path, files
through concurrent downloads and uploads. Where simple-orthanc was broken, this does what its README says.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._bulk._sync.upload import upload
from ..._bulk.dicom_files import classify
from ..._client._sync.client import Orthanc as NativeOrthanc
from ..._core.errors import InvalidInputError
from ..._selection._sync.selection import Selection
from ..._selection.data import SelectionError
from .constants import ASCENDING, DESCENDING, DESCENDING_OLD_SPELLING
from .dicom_tags import DicomLevels, OrthancDicomTag, is_keyword, main_dicom_tags, parse_dicom_value

if TYPE_CHECKING:
    import numpy.typing as npt
    from pydicom.dataset import Dataset

__all__ = ["Orthanc", "OrthancInterface"]

_ORDERS = {ASCENDING: False, DESCENDING: True, DESCENDING_OLD_SPELLING: True}


class OrthancInterface:
    """What simple-orthanc exposed as ``orthanc.interface``: the server's main DICOM tags per level and the
    Orthanc IDs of the current selection (``interface.selected.Series``...)."""

    def __init__(self, owner: Orthanc, system: dict[str, Any]) -> None:
        self._owner = owner
        self.main_dicom_tags = main_dicom_tags(system)

    @property
    def selected(self) -> DicomLevels:
        """The selected Orthanc IDs per level, instances in the selection's order."""
        selection = self._owner._current()
        return DicomLevels(
            selection.patient_ids(), selection.study_ids(), selection.series_ids(), selection.instance_ids()
        )


class Orthanc:
    """An Orthanc server narrowed down step by step, as simple-orthanc's ``Orthanc``.

    Example::

        from orthanc_client.compat.simple_orthanc import Orthanc     # was: from simple_orthanc import Orthanc

        orthanc = Orthanc(client=client)     # or, as simple-orthanc: Orthanc("127.0.0.1", 8042, "orthanc", "orthanc")
        orthanc.select(PatientID="DEMOCT01", Modality="CT")
        print(orthanc.series_count, orthanc.SeriesDescription)
        volume = orthanc.select(SeriesNumber="1").get_array()      # (slices, rows, columns, channels)

    Args:
        host: a host name or address, or a whole URL (``https://pacs.example.org/orthanc``).
        port: the HTTP port (ignored when ``host`` is a URL).
        username, password: HTTP basic credentials.
        selection: criteria applied at once, as ``select(**selection)``.
        ipaddress: the old name of ``host`` (deprecated, as in simple-orthanc).
        client: a native ``orthanc_client.Orthanc`` to use instead of connecting (then host, port and
            credentials are not used; closing this object leaves it open).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8042,
        username: str | None = None,
        password: str | None = None,
        selection: dict[str, Any] | None = None,
        ipaddress: str | None = None,
        *,
        client: NativeOrthanc | None = None,
    ) -> None:
        if ipaddress is not None:
            warnings.warn("use host= to set the server's address", DeprecationWarning, stacklevel=2)
            host = ipaddress
        self._owns_client = client is None
        if client is None:
            url = host if "://" in host else f"http://{host}:{port}"
            client = NativeOrthanc(url, username, password)
        self.client = client
        self._criteria: dict[str, Any] = {}
        self._sort: tuple[str, bool] | None = None
        self._selection: Selection | None = None
        try:
            # Like simple-orthanc, connecting reads /system: a wrong address or password fails here.
            self.interface = OrthancInterface(self, dict(client.system()))
        except BaseException:
            self.close()
            raise
        if selection:
            self.select(**selection)

    # --- the native selection behind the current state ---------------------------------------------------

    def _current(self) -> Selection:
        if self._selection is None:
            selection = self.client.select(**self._criteria)
            if self._sort is not None:
                selection = selection.sorted_by(self._sort[0], descending=self._sort[1])
            self._selection = selection
        return self._selection

    @property
    def native(self) -> Selection:
        """The current selection as a native ``orthanc_client.Selection`` (to move a script over step by step)."""
        return self._current()

    def close(self) -> None:
        """Closes the connection pool (when this object opened it)."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Orthanc:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Orthanc(url={self.client.url!r}, selection={self._criteria!r})"

    # --- selecting -----------------------------------------------------------------------------------------

    def select(self, **tags: Any) -> Orthanc:
        """Narrows the selection (a tag given again replaces its value); a ``UserWarning`` when nothing
        matches. Returns ``self``, so calls chain: ``orthanc.select(PatientID="P1").get_array()``."""
        selection = self._current().select(**tags)  # checks keywords and values before changing anything
        self._criteria.update(tags)
        self._selection = selection
        if selection.counts().instances == 0:
            warnings.warn(f"No instances found for selection {self._criteria}", UserWarning, stacklevel=2)
        return self

    def reset(self, tag: str | None = None) -> Orthanc:
        """Clears the selection (and the sort order), or only ``tag``'s criterion. Returns ``self``."""
        if tag is None:
            self._criteria, self._sort = {}, None
        elif tag in self._criteria:
            del self._criteria[tag]
        self._selection = None
        return self

    def refresh(self) -> Orthanc:
        """Re-reads the server (after uploads, deletes or changes by others), keeping the selection and the
        sort order. Returns ``self``."""
        self._current().refresh()
        return self

    @property
    def selection(self) -> dict[str, Any]:
        """The current criteria (a copy). Setting replaces them (``None`` clears them)."""
        return dict(self._criteria)

    @selection.setter
    def selection(self, selection: dict[str, Any] | None) -> None:
        self.reset()
        if selection:
            self.select(**selection)

    def sort_by(self, tag: str, order: str = ASCENDING) -> Orthanc:
        """Orders the selected instances by ``tag`` (numbers by value), for ``get_headers()``, tag values,
        ``download()`` and ``get_array()``. ``order``: ``ASCENDING`` or ``DESCENDING`` (the old
        ``"descendig"`` too). Returns ``self``."""
        if order not in _ORDERS:
            raise InvalidInputError(f"order must be {ASCENDING!r} or {DESCENDING!r}, not {order!r}")
        keyword = str(tag)
        self._sort = (keyword, _ORDERS[order])
        self._selection = self._current().sorted_by(keyword, descending=_ORDERS[order])
        return self

    # --- counts and tag values ---------------------------------------------------------------------------

    @property
    def patient_count(self) -> int:
        """Patients in the selection."""
        return self._current().counts().patients

    @property
    def study_count(self) -> int:
        """Studies in the selection."""
        return self._current().counts().studies

    @property
    def series_count(self) -> int:
        """Series in the selection."""
        return self._current().counts().series

    @property
    def instance_count(self) -> int:
        """Instances in the selection."""
        return self._current().counts().instances

    def __len__(self) -> int:
        return self.series_count

    def __getattr__(self, name: str) -> Any:
        # Any DICOM keyword reads as the list of its values over the selection: orthanc.SeriesDescription.
        if not name.startswith("_") and is_keyword(name):
            return self.get_dicom_tag(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __dir__(self) -> Iterable[str]:
        tags = [str(tag) for tag in self.interface.main_dicom_tags.tolist()]
        return sorted(set(super().__dir__()) | set(tags))

    def get_dicom_tag(self, tag: str, unique: bool = True) -> list[Any]:
        """A tag's values over the selection, typed by VR as simple-orthanc did (DS -> float, IS -> int, several
        values -> list): the distinct values, or with ``unique=False`` one per instance in the selection's
        order (``None`` where absent)."""
        keyword = OrthancDicomTag(str(tag))
        vr, vm = keyword.vr, keyword.vm
        values = self._current().values(str(keyword), unique=unique)
        return [parse_dicom_value(value, vr, vm) for value in values]

    def get_all_dicom_tags(self, include_private: bool = True) -> list[OrthancDicomTag]:
        """The tags present in the first instance of each selected series, as keyword strings (tags without a
        keyword, e.g. private ones, are not listed)."""
        return [OrthancDicomTag(name) for name in self._current().available_tags()]

    # --- headers and pixels ---------------------------------------------------------------------------------

    def get_header(self, index: int | None = None, silent: bool = True) -> Dataset:
        """One instance's header as a pydicom Dataset without pixels: the only selected instance, or the
        ``index``-th one. ``IndexError`` when ``index`` is missing and several instances are selected."""
        if index is None:
            count = self.instance_count
            if count != 1:
                raise SelectionError(f"{count} instances selected: pass index= to choose one")
            index = 0
        return self._current().header(index)

    def get_headers(self, index: int | None = None, silent: bool = True) -> list[Dataset] | Dataset:
        """Every selected instance's header (pydicom Datasets without pixels), in the selection's order; with
        ``index``, only that one header (a Dataset)."""
        if index is not None:
            return self._current().header(index)
        return self._current().headers()

    def get_array(self, apply_suv_rescale: bool = True) -> npt.NDArray[Any]:
        """The selected series as ``(slices, rows, columns, channels)`` float32, RescaleSlope and Intercept
        applied (what Orthanc's ``/series/{id}/numpy``, which simple-orthanc read, returns by default), slices
        along the slice normal or in the ``sort_by()`` order; only the selected instances. ``IndexError``
        unless exactly one series is selected. ``apply_suv_rescale`` is accepted and unused, as in
        simple-orthanc's ``Orthanc`` (its ``OrthancImage`` used it)."""
        volume = self._current().array(rescale=True)
        return volume[..., None] if volume.ndim == 3 else volume

    # --- files -----------------------------------------------------------------------------------------------

    def download(self, folder: str | os.PathLike[str] | None = None) -> list[str]:
        """Writes the selected instances as ``<folder>/<instance-id>.dcm`` (a new temporary folder when none
        is given); returns their absolute paths in the selection's order."""
        target = Path(tempfile.mkdtemp(prefix="simple-orthanc-")) if folder is None else Path(os.fspath(folder))
        return [str(path) for path in self._current().download(target)]

    def upload_file(self, file: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], test_dicom: bool = True) -> None:
        """Uploads a file or a list of files, then re-reads the server. ``test_dicom``: check every file is
        DICOM first and refuse them all (``InvalidInputError`` naming the others) if one is not; without it,
        Orthanc's refusal of a non-DICOM file raises."""
        files = [file] if isinstance(file, (str, os.PathLike)) else list(file)
        paths = [Path(os.fspath(f)) for f in files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise InvalidInputError(f"no such file: {', '.join(missing)}")
        if test_dicom:
            not_dicom = [str(p) for p in paths if not _is_dicom(p)]
            if not_dicom:
                raise InvalidInputError(f"not DICOM, nothing uploaded: {', '.join(not_dicom)}")
        self._upload(paths)

    def upload_folder(self, folder: str | os.PathLike[str], test_dicom: bool = True, recursive: bool = False) -> None:
        """Uploads the files of ``folder`` (and its sub-folders if ``recursive``). ``test_dicom``: files that
        are not DICOM are left out with a ``UserWarning`` naming them; without it they are sent and Orthanc's
        refusal raises."""
        root = Path(os.fspath(folder))
        if not root.is_dir():
            raise InvalidInputError(f"no such folder: {root}")
        found = root.rglob("*") if recursive else root.iterdir()
        paths = sorted(p for p in found if p.is_file())
        if test_dicom:
            not_dicom = [p for p in paths if not _is_dicom(p)]
            if not_dicom:
                names = ", ".join(str(p) for p in not_dicom[:10]) + (" ..." if len(not_dicom) > 10 else "")
                warnings.warn(f"{len(not_dicom)} files are not DICOM and were not uploaded: {names}", UserWarning, stacklevel=2)
                paths = [p for p in paths if p not in set(not_dicom)]
        self._upload(paths)

    def upload_pydicom_dataset(self, dataset: Dataset | Sequence[Dataset]) -> None:
        """Uploads pydicom datasets, serialized in memory: the files they were read from are never touched."""
        datasets = [dataset] if _is_dataset(dataset) else dataset
        if not isinstance(datasets, (list, tuple)) or not all(_is_dataset(d) for d in datasets):
            raise TypeError(f"a pydicom Dataset or a list of them expected, got {type(dataset).__name__}")
        self._upload(list(datasets))

    def _upload(self, sources: list[Any]) -> None:
        if not sources:
            return
        result = upload(self.client, sources, recursive=False, progress=False)
        result.raise_for_failures()
        if result.skipped:
            names = ", ".join(f"{item.name} ({item.reason})" for item in result.skipped)
            raise InvalidInputError(f"not uploaded: {names}")
        self.refresh()

    # --- deleting ----------------------------------------------------------------------------------------------

    def delete_selected_patient(self) -> None:
        """Deletes the selected patient (all its studies, also those not selected); ``IndexError`` unless
        exactly one patient is selected. The selection is kept and re-read."""
        self._current().delete_patient()
        self.refresh()

    def delete_selected_study(self) -> None:
        """Deletes the selected study (all its series); ``IndexError`` unless exactly one is selected."""
        self._current().delete_study()
        self.refresh()

    def delete_selected_series(self) -> None:
        """Deletes the selected series (all its instances); ``IndexError`` unless exactly one is selected."""
        self._current().delete_series()
        self.refresh()

    delete_selected_serie = delete_selected_series  # simple-orthanc's own spelling

    def raise_single_series(self) -> None:
        """``IndexError`` unless exactly one series is selected."""
        count = self.series_count
        if count != 1:
            raise SelectionError(f"{count} series selected: this needs exactly one")


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as file:
        return classify(file) == "dicom"


def _is_dataset(value: object) -> bool:
    try:
        from pydicom.dataset import Dataset
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return isinstance(value, Dataset)
