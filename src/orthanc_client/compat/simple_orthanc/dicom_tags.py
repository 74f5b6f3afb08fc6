"""DICOM tag names and values as simple-orthanc gave them (``simple_orthanc.dicom_tags``), sans I/O.

``OrthancDicomTag`` is a ``str`` (its keyword) that also knows its tag, VR and VM; ``parse_dicom_value`` types
Orthanc's strings by VR the way simple-orthanc did (numbers for DS/IS/US..., lists for several values, other
strings unchanged, dates kept as text).
"""

from __future__ import annotations

from typing import Any

from ..._core.errors import InvalidInputError


def _pydicom_datadict() -> Any:
    try:
        from pydicom import datadict
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("orthanc_client.compat.simple_orthanc needs pydicom: pip install 'orthanc-client[dicom]'") from exc
    return datadict


class OrthancDicomTag(str):
    """A DICOM keyword (``str(tag) == "PatientName"``, and equal to that string) with its tag, VR and VM.

    Example::

        tag = OrthancDicomTag("SliceLocation")
        tag.vr, tag.vm, tag.orthanc_tag          # ('DS', '1', '0020-1041')
    """

    @property
    def tagname(self) -> str:
        return str(self)

    @property
    def pydicom_tag(self) -> int | None:
        tag = _pydicom_datadict().tag_for_keyword(str(self))
        return None if tag is None else int(tag)

    @property
    def vr(self) -> str:
        """The dictionary VR; the first choice for ambiguous ones (``"US or SS"`` -> ``"US"``)."""
        tag = self.pydicom_tag
        if tag is None:
            raise InvalidInputError(f"{str(self)!r} is not a DICOM keyword")
        return str(_pydicom_datadict().dictionary_VR(tag)).split(" or ")[0]

    @property
    def vm(self) -> str:
        tag = self.pydicom_tag
        if tag is None:
            raise InvalidInputError(f"{str(self)!r} is not a DICOM keyword")
        return str(_pydicom_datadict().dictionary_VM(tag))

    @property
    def is_sequence(self) -> bool:
        return self.vr == "SQ"

    @property
    def orthanc_tag(self) -> str:
        """``"gggg-eeee"``, as simple-orthanc wrote it."""
        tag = self.pydicom_tag
        if tag is None:
            raise InvalidInputError(f"{str(self)!r} is not a DICOM keyword")
        return f"{tag >> 16:04x}-{tag & 0xFFFF:04x}"

    @classmethod
    def from_orthanc_tag(cls, tag: str) -> OrthancDicomTag:
        """From ``"0010,0010"`` or ``"0010-0010"``; an empty name for tags pydicom does not know."""
        number = int(tag.replace("-", "").replace(",", ""), 16)
        return cls(_pydicom_datadict().keyword_for_tag(number) or "")

    def __repr__(self) -> str:
        return str(self)


def is_keyword(name: str) -> bool:
    """Whether ``name`` is a DICOM keyword in pydicom's dictionary."""
    return bool(name) and _pydicom_datadict().tag_for_keyword(name) is not None


_FLOAT_VRS = frozenset({"DS", "FL", "FD", "OD", "OF"})
_INT_VRS = frozenset({"IS", "OL", "SL", "SS", "UL", "US", "SV", "UV"})


def parse_dicom_value(value: Any, vr: str, vm: str = "1") -> Any:
    """Orthanc's string typed by VR as simple-orthanc did: ``"1.5"`` (DS) -> 1.5, ``"3"`` (IS) -> 3,
    ``"0.5\\\\0.5"`` -> ``[0.5, 0.5]``, text without its NUL padding; ``None`` stays ``None``. A value that
    does not parse is returned as it came, never dropped."""
    if not isinstance(value, str):
        return value
    if vm != "1" and "\\" in value:
        return [parse_dicom_value(item, vr, "1") for item in value.split("\\")]
    try:
        if vr in _FLOAT_VRS:
            return float(value)
        if vr in _INT_VRS:
            return int(value)
    except ValueError:
        return value
    return value.strip("\x00")


class DicomLevels:
    """Four lists, one per level (``Patients``, ``Studies``, ``Series``, ``Instances``), as simple-orthanc's
    ``interface.main_dicom_tags`` and ``interface.selected`` are."""

    def __init__(
        self,
        Patients: list[Any] | None = None,  # noqa: N803 - simple-orthanc's names
        Studies: list[Any] | None = None,  # noqa: N803
        Series: list[Any] | None = None,  # noqa: N803
        Instances: list[Any] | None = None,  # noqa: N803
    ) -> None:
        self.Patients = list(Patients or [])
        self.Studies = list(Studies or [])
        self.Series = list(Series or [])
        self.Instances = list(Instances or [])

    def tolist(self) -> list[Any]:
        return self.Patients + self.Studies + self.Series + self.Instances

    def __iter__(self) -> Any:
        return iter(self.tolist())

    def __len__(self) -> int:
        return len(self.tolist())

    def __contains__(self, item: object) -> bool:
        return item in self.tolist()

    def __repr__(self) -> str:
        return (
            f"DicomLevels(Patients={self.Patients!r}, Studies={self.Studies!r}, Series={self.Series!r}, "
            f"Instances={self.Instances!r})"
        )


# Orthanc's default main DICOM tags per level, for servers whose /system does not list them (before 1.11).
DEFAULT_MAIN_DICOM_TAGS = {
    "Patient": "0010,0010;0010,0020;0010,0030;0010,0040;0010,1000",
    "Study": "0008,0020;0008,0030;0008,0050;0008,0080;0008,0090;0008,1030;0020,000d;0020,0010;0032,1032;0032,1060",
    "Series": (
        "0008,0021;0008,0031;0008,0060;0008,0070;0008,1010;0008,103e;0008,1070;0018,0010;0018,0015;0018,0024;"
        "0018,1030;0018,1090;0018,1400;0020,000e;0020,0011;0020,0037;0020,0105;0020,1002;0040,0254;0054,0081;"
        "0054,0101;0054,1000"
    ),
    "Instance": (
        "0008,0012;0008,0013;0008,0018;0020,0012;0020,0013;0020,0032;0020,0037;0020,0100;0020,4000;0028,0008;"
        "0054,1330"
    ),
}


def main_dicom_tags(system: dict[str, Any]) -> DicomLevels:
    """The server's main DICOM tags per level, from its ``/system`` answer (or Orthanc's defaults)."""
    listed = system.get("MainDicomTags") or DEFAULT_MAIN_DICOM_TAGS
    levels = {}
    for level, plural in (("Patient", "Patients"), ("Study", "Studies"), ("Series", "Series"), ("Instance", "Instances")):
        tags = [OrthancDicomTag.from_orthanc_tag(t) for t in str(listed.get(level, "")).split(";") if t.strip()]
        levels[plural] = [t for t in tags if t]
    return DicomLevels(**levels)
