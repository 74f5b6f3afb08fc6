"""Request bodies for Orthanc's ``/modify`` and ``/anonymize`` routes, and the checks made before sending them.

Sans-I/O: the resources turn their typed keyword arguments into Orthanc's JSON here. Tags are DICOM keywords
(``"PatientName"``) or ``"gggg,eeee"`` strings, as Orthanc takes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from .._core.errors import InvalidInputError

# Changing one of these rewrites the resource's identity (Orthanc computes its IDs from them): Orthanc
# itself refuses some such changes without "Force", and silently splitting/merging studies is a classic
# data-loss mistake, so they are refused unless the caller says ``force=True``.
IDENTIFIER_TAGS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_IDENTIFIER_HEX = {"0010,0020": "PatientID", "0020,000d": "StudyInstanceUID", "0020,000e": "SeriesInstanceUID",
                   "0008,0018": "SOPInstanceUID"}
# Anonymization replaces PatientID by design (that is how pseudonyms are set) and Orthanc accepts it without
# Force; the UIDs still need it.
_ANONYMIZE_GUARDED = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def _identifier_name(tag: str) -> str | None:
    if tag in IDENTIFIER_TAGS:
        return tag
    return _IDENTIFIER_HEX.get(tag.strip("()").replace("|", ",").lower())


def check_identifier_changes(
    operation: str, *, replace: Mapping[str, Any], remove: Iterable[str], force: bool, guarded: Iterable[str]
) -> None:
    """Raises ``InvalidInputError`` if ``replace``/``remove`` touch an identifier tag without ``force``."""
    if force:
        return
    guarded = set(guarded)
    touched = [name for tag in [*replace, *remove] if (name := _identifier_name(tag)) in guarded]
    if touched:
        raise InvalidInputError(
            f"{operation}: changing {', '.join(sorted(set(touched)))} changes the resource's identity in Orthanc "
            "(it may split or merge patients/studies/series); pass force=True if that is what you want"
        )


def _tag_list(name: str, tags: Iterable[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        raise InvalidInputError(f"{name} takes a list of tags, not one string ({tags!r}): write [{tags!r}]")
    return [str(tag) for tag in tags]


def modify_body(
    *,
    replace: Mapping[str, Any] | None = None,
    remove: Iterable[str] | None = None,
    keep: Iterable[str] | None = None,
    remove_private_tags: bool = False,
    force: bool = False,
    keep_source: bool = True,
    priority: int = 0,
    transcode: str | None = None,
    private_creator: str | None = None,
    run_as_job: bool = True,
) -> dict[str, Any]:
    """The JSON for ``POST /{level}/{id}/modify``.

    >>> modify_body(replace={"StudyDescription": "x"}, priority=2)["Replace"]
    {'StudyDescription': 'x'}
    """
    replace = dict(replace or {})
    remove_list = _tag_list("remove", remove)
    check_identifier_changes("modify", replace=replace, remove=remove_list, force=force, guarded=IDENTIFIER_TAGS)
    body: dict[str, Any] = {
        "Replace": replace,
        "Remove": remove_list,
        "Keep": _tag_list("keep", keep),
        "RemovePrivateTags": remove_private_tags,
        "Force": force,
        "KeepSource": keep_source,
        "Priority": priority,
    }
    if transcode is not None:
        body["Transcode"] = transcode
    if private_creator is not None:
        body["PrivateCreator"] = private_creator
    if run_as_job:
        body["Asynchronous"] = True
    return body


def anonymize_body(
    *,
    replace: Mapping[str, Any] | None = None,
    remove: Iterable[str] | None = None,
    keep: Iterable[str] | None = None,
    keep_private_tags: bool = False,
    keep_labels: bool = False,
    force: bool = False,
    keep_source: bool = True,
    priority: int = 0,
    dicom_version: str | None = None,
    transcode: str | None = None,
    private_creator: str | None = None,
    run_as_job: bool = True,
) -> dict[str, Any]:
    """The JSON for ``POST /{level}/{id}/anonymize``. ``dicom_version``: the PS3.15 profile, e.g. ``"2023b"``.

    >>> anonymize_body(keep=["StudyDescription"], dicom_version="2021b")["DicomVersion"]
    '2021b'
    """
    replace = dict(replace or {})
    remove_list = _tag_list("remove", remove)
    check_identifier_changes(
        "anonymize", replace=replace, remove=remove_list, force=force, guarded=_ANONYMIZE_GUARDED
    )
    body: dict[str, Any] = {
        "Replace": replace,
        "Remove": remove_list,
        "Keep": _tag_list("keep", keep),
        "KeepPrivateTags": keep_private_tags,
        "Force": force,
        "KeepSource": keep_source,
        "Priority": priority,
    }
    if keep_labels:  # Orthanc 1.12+; only sent when asked so that older servers accept the body
        body["KeepLabels"] = True
    if dicom_version is not None:
        body["DicomVersion"] = dicom_version
    if transcode is not None:
        body["Transcode"] = transcode
    if private_creator is not None:
        body["PrivateCreator"] = private_creator
    if run_as_job:
        body["Asynchronous"] = True
    return body


class AnonymizeOptions(TypedDict, total=False):
    """How to anonymize, as one value: the keyword options of ``anonymize_as_job`` (see ``anonymize_body``)
    plus ``timeout`` (seconds to wait for the job, as ``Study.anonymize(timeout=...)``), without
    ``keep_source``: ``transfer(anonymize=...)`` decides that with its own ``keep_original``.

    A plain dict works too; ``AnonymizeOptions(...)`` only lets a type checker see the keys.

    Example::

        options = AnonymizeOptions(replace={"PatientName": "STUDY-42"}, keep=["StudyDescription"])
    """

    replace: Mapping[str, Any] | None
    remove: Iterable[str] | None
    keep: Iterable[str] | None
    keep_private_tags: bool
    keep_labels: bool
    force: bool
    priority: int
    dicom_version: str | None
    transcode: str | None
    private_creator: str | None
    timeout: float | None


_ANONYMIZE_OPTION_KEYS = frozenset(AnonymizeOptions.__annotations__)


def anonymize_options(value: bool | Mapping[str, Any]) -> dict[str, Any] | None:
    """``transfer(anonymize=...)`` checked before anything is sent: ``False`` -> ``None`` (do not anonymize),
    ``True`` -> ``{}`` (Orthanc's defaults), a mapping -> a copy, its values checked as ``anonymize_body``
    checks them (an identifier change without ``force``, one string for a list of tags...).

    >>> anonymize_options({"keep": ["StudyDescription"]})
    {'keep': ['StudyDescription']}
    >>> anonymize_options(False) is None
    True
    """
    if value is False or value is None:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"anonymize takes True/False or a mapping of options, not {value!r}")
    options = dict(value)
    if "keep_source" in options:
        raise InvalidInputError("anonymize: give keep_original=True/False to transfer() instead of keep_source")
    unknown = sorted(set(options) - _ANONYMIZE_OPTION_KEYS)
    if unknown:
        raise InvalidInputError(
            f"anonymize: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_ANONYMIZE_OPTION_KEYS))}"
        )
    for name in ("remove", "keep"):
        if options.get(name) is not None:
            options[name] = _tag_list(name, options[name])  # a generator would be spent by the first study
    anonymize_body(**{k: v for k, v in options.items() if k != "timeout"})
    return options
