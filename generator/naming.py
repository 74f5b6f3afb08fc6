"""How OpenAPI names become Python names.

Method names follow the scheme users already know from pyorthanc (verb + route, with ``/``, ``-`` and ``.``
turned into ``_``, placeholders without braces, runs of ``_`` collapsed), so that code ports by changing the
import. Unlike pyorthanc's generator, literal route words are never rewritten: the name is derived from the
route, never the other way round.
"""

from __future__ import annotations

import keyword
import re

_SEPARATORS = re.compile(r"[/\-.{}]+")
_UNDERSCORES = re.compile(r"_+")


def method_name(http_method: str, path: str) -> str:
    """``("GET", "/patients/{id}/studies")`` -> ``"get_patients_id_studies"``."""
    name = f"{http_method.lower()}_{_SEPARATORS.sub('_', path)}"
    return _UNDERSCORES.sub("_", name).strip("_")


def python_identifier(name: str) -> str:
    """A safe Python identifier for a path, query or header parameter.

    ``id`` becomes ``id_`` as in pyorthanc (and so as not to shadow the builtin); dashes become underscores.
    """
    ident = re.sub(r"\W", "_", name.replace("-", "_"))
    ident = _camel_to_snake(ident) if ident[:1].isupper() else ident
    if ident == "id" or keyword.iskeyword(ident) or ident in {"self", "params", "headers", "timeout"}:
        ident += "_"
    return ident


def field_name(json_name: str) -> str:
    """A pydantic field name for an Orthanc JSON property: ``"KeepPrivateTags"`` -> ``"keep_private_tags"``."""
    ident = _camel_to_snake(re.sub(r"\W", "_", json_name))
    if keyword.iskeyword(ident) or ident in {"model_config", "model_fields"} or ident.startswith("model_"):
        ident += "_"
    return ident


def model_name(method: str) -> str:
    """``"post_tools_find"`` -> ``"PostToolsFindBody"``."""
    return "".join(part.capitalize() for part in method.split("_")) + "Body"


def constant_name(method: str) -> str:
    return method.upper()


def _camel_to_snake(name: str) -> str:
    # "MoveOriginatorID" -> "move_originator_id", "DicomAet" -> "dicom_aet", "AET" -> "aet"
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return _UNDERSCORES.sub("_", name.lower()).strip("_") or "field"
