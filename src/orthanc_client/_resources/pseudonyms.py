"""``PseudonymMint``: deterministic, keyed pseudonyms for longitudinal research (no I/O).

Every value is derived with HMAC-SHA256 under the mint's secret and a per-field label, so:

* the same input gives the same pseudonym in every run, on every machine that holds the secret (a second
  export of a patient links up with the first);
* without the secret nobody can recompute or test a guess (unlike a plain hash of a name or an ID);
* two fields never share a derivation (``uid("X")`` tells nothing about ``patient_id("X")``).

Names come from small word lists shipped here, so pseudonymized data still reads like DICOM (``LAST^FIRST``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re

from .._core.errors import InvalidInputError

# 2.25.<decimal of a 128-bit number> is the UUID-derived UID form (PS3.5 B.2): valid without a registered root.
DEFAULT_UID_ROOT = "2.25"
_UID_ROOT = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_MAX_UID = 64
_SHIFT_DAYS = 365  # birth dates move by at most a year, so ages stay roughly right

LAST_NAMES = (
    "ADAMS", "ALLEN", "BAKER", "BARNES", "BELL", "BENNETT", "BROOKS", "BROWN", "BRYANT", "BUTLER", "CAMPBELL",
    "CARTER", "CLARK", "COLEMAN", "COLLINS", "COOK", "COOPER", "COX", "CRUZ", "DAVIS", "DIAZ", "EDWARDS",
    "EVANS", "FISHER", "FLORES", "FOSTER", "GARCIA", "GIBSON", "GRAHAM", "GRAY", "GREEN", "GRIFFIN", "HALL",
    "HAMILTON", "HARRIS", "HAYES", "HENDERSON", "HILL", "HOWARD", "HUGHES", "JACKSON", "JAMES", "JENKINS",
    "JOHNSON", "JONES", "KELLY", "KING", "LEE", "LEWIS", "LONG", "LOPEZ", "MARSHALL", "MARTIN", "MASON",
    "MILLER", "MITCHELL", "MOORE", "MORGAN", "MORRIS", "MURPHY", "MYERS", "NELSON", "OWENS", "PARKER",
    "PERRY", "PETERSON", "PHILLIPS", "POWELL", "PRICE", "REED", "REYES", "RICHARDS", "RIVERA", "ROBERTS",
    "ROGERS", "ROSS", "RUSSELL", "SANDERS", "SCOTT", "SHAW", "SIMMONS", "SMITH", "STEWART", "SULLIVAN",
    "TAYLOR", "THOMAS", "THOMPSON", "TURNER", "WALKER", "WARD", "WATSON", "WELLS", "WEST", "WHITE",
    "WILLIAMS", "WILSON", "WOOD", "WRIGHT", "YOUNG", "ZIMMER",
)
FIRST_NAMES = (
    "AARON", "ABIGAIL", "ADAM", "ALICE", "AMELIA", "ANNA", "ARTHUR", "AVA", "BEN", "CARA", "CARL", "CHLOE",
    "CLARA", "DANIEL", "DAVID", "DIANA", "EDGAR", "ELENA", "ELI", "ELLA", "EMMA", "ERIC", "EVA", "FELIX",
    "FIONA", "FRANK", "GEORGE", "GRACE", "HANNAH", "HARRY", "HELEN", "HENRY", "IAN", "IDA", "IRIS", "ISAAC",
    "JACK", "JANE", "JASMINE", "JOHN", "JULIA", "KAREN", "KEVIN", "LAURA", "LEO", "LILY", "LUCAS", "LUCY",
    "MARIA", "MARK", "MARTHA", "MAX", "MIA", "NATHAN", "NINA", "NOAH", "NORA", "OLGA", "OLIVER", "OSCAR",
    "PAUL", "PETER", "PHOEBE", "QUINN", "RACHEL", "RALPH", "ROSA", "RUTH", "SAMUEL", "SARA", "SIMON",
    "SOPHIE", "STELLA", "THEO", "TOM", "URSULA", "VERA", "VICTOR", "VIOLA", "WALTER", "WENDY", "XAVIER",
    "YARA", "YVES", "ZOE",
)


class PseudonymMint:
    """Keyed, deterministic pseudonyms: the same input and secret always give the same output.

    ``secret``: bytes or text (keep it out of code and logs: ``PseudonymMint.from_env()`` reads
    ``ORTHANC_PSEUDONYM_SECRET``). ``uid_root``: the root of minted UIDs (default ``2.25``, the UUID-derived
    form, which needs no registered root). ``patient_id_prefix``: put before the minted patient IDs.

    Example::

        mint = PseudonymMint(secret="project-42 secret")
        assert mint.patient_id("12345") == PseudonymMint(secret="project-42 secret").patient_id("12345")
        print(mint.patient_name("DOE^JOHN"))         # LAST^FIRST from word lists, the same for every run
        assert len(mint.uid("1.2.840.113619.2.55.3")) <= 64
        assert mint.birth_date("19800101") != "19800101"
    """

    def __init__(self, secret: bytes | str, *, uid_root: str = DEFAULT_UID_ROOT, patient_id_prefix: str = "") -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if not isinstance(key, bytes) or len(key) < 8:
            raise InvalidInputError("PseudonymMint needs a secret of at least 8 bytes (the pseudonyms are only as private as it)")
        root = uid_root.rstrip(".")
        if not _UID_ROOT.match(root):
            raise InvalidInputError(f"uid_root {uid_root!r} is not a UID root (digits separated by dots, no leading zeros)")
        if len(root) > _MAX_UID - 2:
            raise InvalidInputError(f"uid_root {uid_root!r} leaves no room for a UID suffix within {_MAX_UID} characters")
        self._key = key
        self.uid_root = root
        self.patient_id_prefix = patient_id_prefix

    @classmethod
    def from_env(cls, variable: str = "ORTHANC_PSEUDONYM_SECRET", **options: str) -> PseudonymMint:
        """A mint keyed by the environment variable ``variable`` (``InvalidInputError`` if it is unset)."""
        secret = os.environ.get(variable)
        if not secret:
            raise InvalidInputError(f"the pseudonym secret is missing: set {variable}")
        return cls(secret, **options)

    def __repr__(self) -> str:  # never the secret
        return f"PseudonymMint(uid_root={self.uid_root!r})"

    def _digest(self, field: str, value: str) -> bytes:
        # The field label keeps derivations apart; the NUL cannot occur in a DICOM string value.
        return hmac.new(self._key, f"{field}\x00{value}".encode(), hashlib.sha256).digest()

    def _number(self, field: str, value: str, bits: int) -> int:
        return int.from_bytes(self._digest(field, value), "big") >> (256 - bits)

    def patient_id(self, value: str) -> str:
        """A pseudonymous PatientID: ``prefix`` + 16 upper-case hex digits (64 bits: no collision in practice)."""
        return f"{self.patient_id_prefix}{self._number('PatientID', _text(value), 64):016X}"

    def patient_name(self, value: str) -> str:
        """A natural-looking ``LAST^FIRST`` (DICOM PN). Names repeat across patients (there are 8,500 pairs):
        link patients by ``patient_id``, not by name."""
        number = self._number("PatientName", _text(value), 64)
        last = LAST_NAMES[number % len(LAST_NAMES)]
        first = FIRST_NAMES[(number // len(LAST_NAMES)) % len(FIRST_NAMES)]
        return f"{last}^{first}"

    def birth_date(self, value: str | dt.date, *, key: str | None = None) -> str:
        """The birth date (``YYYYMMDD`` or a ``date``) shifted by a keyed offset of -365 to +365 days, as a
        DICOM DA. The offset depends on ``key`` (give the original PatientID so that every date of a
        patient moves alike) or else on the date itself. An empty value stays empty."""
        if isinstance(value, dt.date):
            date = value
        else:
            text = _text(value).strip()
            if not text:
                return ""
            try:
                date = dt.datetime.strptime(text, "%Y%m%d").date()
            except ValueError:
                raise InvalidInputError(f"birth_date: {value!r} is not a DICOM date (YYYYMMDD)") from None
        offset = self._number("PatientBirthDate", key if key is not None else date.isoformat(), 32)
        shift = offset % (2 * _SHIFT_DAYS + 1) - _SHIFT_DAYS
        if shift == 0:
            shift = 1  # a shift of zero would leak the true date
        try:
            shifted = date + dt.timedelta(days=shift)
        except OverflowError:
            shifted = date - dt.timedelta(days=abs(shift))
        return shifted.strftime("%Y%m%d")

    def uid(self, value: str) -> str:
        """A valid DICOM UID (at most 64 characters) under ``uid_root``: ``2.25.<128 bits of the HMAC>`` by
        default (39 digits at most), truncated to fit under a longer root."""
        room = _MAX_UID - len(self.uid_root) - 1
        number = self._number("UID", _text(value).strip().rstrip("\x00"), 128)
        digits = str(number)
        if len(digits) > room:
            digits = str(number % (10**room))
        # A UID component may not have a leading zero: drop them (a leading 0 alone is the number 0).
        digits = digits.lstrip("0") or "0"
        return f"{self.uid_root}.{digits}"


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"pseudonyms are made from DICOM string values, got {type(value).__name__}")
    return value


# UIDs that name a kind of thing (an SOP class, a transfer syntax, a coding scheme), not this patient's data:
# they are kept. Every other top-level "...UID" is an instance identifier and gets a minted value.
_SHARED_UID_SUFFIXES = ("ClassUID", "SyntaxUID")
_SHARED_UIDS = frozenset({
    "CodingSchemeUID", "ContextUID", "MappingResourceUID", "ContextGroupExtensionCreatorUID",
    "PrivateInformationCreatorUID", "InstanceCreatorUID",
})
PSEUDONYM_TAGS = ("PatientID", "PatientName", "PatientBirthDate")


def is_identifying_uid(keyword: str) -> bool:
    """Whether a UID tag identifies data (``StudyInstanceUID``, ``FrameOfReferenceUID``...) rather than a
    kind of data (``SOPClassUID``, ``TransferSyntaxUID``...).

    >>> is_identifying_uid("FrameOfReferenceUID"), is_identifying_uid("SOPClassUID")
    (True, False)
    """
    return (
        keyword.endswith("UID") and not keyword.endswith(_SHARED_UID_SUFFIXES) and keyword not in _SHARED_UIDS
    )


def pseudonym_replacements(mint: PseudonymMint, tags: dict[str, object], keep: frozenset[str] = frozenset()) -> dict[str, str]:
    """The ``Replace`` of one instance's anonymization: PatientID, PatientName, PatientBirthDate and every
    identifying top-level UID of ``tags`` (simplified, ``{keyword: value}``) minted; tags in ``keep`` and
    absent or empty ones are left to Orthanc's profile.

    >>> mint = PseudonymMint(secret="doctest secret")
    >>> sorted(pseudonym_replacements(mint, {"PatientID": "P1", "SOPClassUID": "1.2", "StudyInstanceUID": "1.3"}))
    ['PatientID', 'StudyInstanceUID']
    """
    replace: dict[str, str] = {}
    patient_id = tags.get("PatientID")
    for keyword, value in tags.items():
        if keyword in keep or not isinstance(value, str) or not value.strip():
            continue
        if keyword == "PatientID":
            replace[keyword] = mint.patient_id(value)
        elif keyword == "PatientName":
            replace[keyword] = mint.patient_name(value)
        elif keyword == "PatientBirthDate":
            try:
                replace[keyword] = mint.birth_date(value, key=patient_id if isinstance(patient_id, str) else None)
            except InvalidInputError:
                continue  # not a valid DA: Orthanc's profile empties it, as it would any birth date
        elif is_identifying_uid(keyword):
            replace[keyword] = mint.uid(value)
    return replace
