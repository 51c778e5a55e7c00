"""Load and validate the control catalogs in `controls/`.

`load_catalogs(catalog_dir())` is the usual entry point: it reads the evidence registry
(`_evidence.yaml`) and every other `*.yaml` as one framework each. Frameworks are data: adding
a framework is adding a file, never a class.

Every refusal is a `CatalogError` whose one-line message starts `<file>:<line>:` and names the
control or field at fault, so a catalog editor can jump straight to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import NoReturn, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from auditpack.controls import _yamldoc
from auditpack.controls.checks import Problem, check_catalog, check_registry, check_related
from auditpack.controls.schema import Catalog, EvidenceRegistry
from auditpack.errors import ConfigError

REGISTRY_FILE = "_evidence.yaml"
CONTROLS_SCHEMA = "auditpack.controls"
EVIDENCE_SCHEMA = "auditpack.evidence"
SUPPORTED_MAJOR = 1

_SCHEMA_RE = re.compile(r"^(?P<name>[a-z.]+)/v(?P<major>\d+)(?:\.\d+)?$")
_Model = TypeVar("_Model", bound=BaseModel)


class CatalogError(ConfigError):
    """A control catalog or the evidence registry is unreadable or breaks a catalog rule."""


def catalog_dir() -> Path:
    """The folder holding `_evidence.yaml` and the framework catalogs.

    In a source checkout that is the repository's top-level `controls/`; an installed wheel
    carries the same files as package data under `auditpack/_data/controls`.
    """
    checkout = Path(__file__).resolve().parents[3] / "controls"
    if (checkout / REGISTRY_FILE).is_file():
        return checkout
    return Path(str(files("auditpack").joinpath("_data", "controls")))


def load_registry(path: Path) -> EvidenceRegistry:
    """Read and validate `_evidence.yaml`. Raises CatalogError naming file and line."""
    doc = _read(path, EVIDENCE_SCHEMA)
    registry = _validate(EvidenceRegistry, doc, path)
    _refuse(check_registry(registry), doc, path)
    return registry


def load_catalog(path: Path, registry: EvidenceRegistry) -> Catalog:
    """Read and validate one framework catalog against the evidence registry.

    Raises CatalogError (message `<file>:<line>: ...`) for: an unreadable file or bad YAML, a
    repeated mapping key, an unknown schema major version, a field that is missing, unknown or
    of the wrong type or value (coverage levels included), a summary over 300 characters, a
    duplicate control id or key, an unknown evidence key, a `combined` coverage weaker than the
    stronger single source, a row whose coverage is all `none`, a partial row with neither gaps
    nor manual inputs, conditional applicability without a note, and a parameter a control
    references but the file does not define.
    """
    return _load_catalog(path, registry)[0]


def load_catalogs(directory: Path) -> dict[str, Catalog]:
    """Every catalog in `directory` (all `*.yaml` but `_evidence.yaml`), keyed by framework key.

    Catalogs come in file-name order. Also refuses a `related` link to a control that does not
    exist in a loaded framework. Raises CatalogError.
    """
    if not directory.is_dir():
        raise CatalogError(f"{directory}: catalog folder does not exist")
    registry = load_registry(directory / REGISTRY_FILE)
    loaded: dict[str, tuple[Catalog, _yamldoc.YamlDocument, Path]] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == REGISTRY_FILE:
            continue
        catalog, doc = _load_catalog(path, registry)
        loaded[catalog.key] = (catalog, doc, path)
    if not loaded:
        raise CatalogError(f"{directory}: no framework catalogs (*.yaml) found")
    catalogs = {key: entry[0] for key, entry in loaded.items()}
    for key, problem in check_related(catalogs):
        _, doc, path = loaded[key]
        _refuse([problem], doc, path)
    return catalogs


# --- internals ------------------------------------------------------------------------------


def _load_catalog(path: Path, registry: EvidenceRegistry) -> tuple[Catalog, _yamldoc.YamlDocument]:
    doc = _read(path, CONTROLS_SCHEMA)
    catalog = _validate(Catalog, doc, path)
    _refuse(check_catalog(catalog, registry, path.stem), doc, path)
    return catalog, doc


def _read(path: Path, schema_name: str) -> _yamldoc.YamlDocument:
    """Parse the file and check its `schema` line before any model sees it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read: {exc}") from None
    try:
        doc = _yamldoc.parse(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise CatalogError(f"{path}:{_yamldoc.problem_line(exc)}: {problem}") from None
    for loc, key, line in doc.duplicate_keys():
        where = _describe(loc, doc.data)
        raise CatalogError(f"{path}:{line}: {where + ': ' if where else ''}key {key!r} is "
                           f"repeated")
    if not isinstance(doc.data, dict):
        raise CatalogError(f"{path}:1: expected a mapping that starts with 'schema: "
                           f"{schema_name}/v{SUPPORTED_MAJOR}'")
    _check_schema(doc, path, schema_name)
    return doc


def _check_schema(doc: _yamldoc.YamlDocument, path: Path, schema_name: str) -> None:
    """Refuse another schema, or a major version this auditpack does not read."""
    assert isinstance(doc.data, dict)
    value = doc.data.get("schema")
    line = doc.line_of(("schema",))
    expected = f"{schema_name}/v{SUPPORTED_MAJOR}"
    match = _SCHEMA_RE.match(value) if isinstance(value, str) else None
    if match is None or match["name"] != schema_name:
        raise CatalogError(f"{path}:{line}: schema must be {expected!r}, found {value!r}")
    if int(match["major"]) != SUPPORTED_MAJOR:
        raise CatalogError(f"{path}:{line}: schema {value!r} is not supported "
                           f"(this auditpack reads {expected})",
                           hint="upgrade auditpack or use a catalog written for this version")


def _validate(model: type[_Model], doc: _yamldoc.YamlDocument, path: Path) -> _Model:
    """Build the pydantic model; its first error becomes a CatalogError at the field's line."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [Problem(tuple(err["loc"]), _pydantic_message(err)) for err in errors]
        _raise_first(problems, doc, path)


def _pydantic_message(err: ErrorDetails) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required field is missing"
    # Messages from field validators read "Value error, ..."; the prefix says nothing.
    return err["msg"].removeprefix("Value error, ")


def _refuse(problems: Sequence[Problem], doc: _yamldoc.YamlDocument, path: Path) -> None:
    """Raise the first problem as a one-line CatalogError; return if there are none."""
    if problems:
        _raise_first(problems, doc, path)


def _raise_first(problems: Sequence[Problem], doc: _yamldoc.YamlDocument,
                 path: Path) -> NoReturn:
    first = problems[0]
    where = _describe(first.loc, doc.data)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    prefix = f"{where}: " if where else ""
    line = doc.line_of(first.loc)
    raise CatalogError(f"{path}:{line}: {prefix}{first.message}{more}")


def _describe(loc: Sequence[str | int], data: object) -> str:
    """Readable location: `control '8.2.6' coverage.combined`, `parameter 'x' value`."""
    labels = {"controls": "control", "items": "evidence item", "parameters": "parameter"}
    if len(loc) >= 2 and isinstance(loc[1], int) and str(loc[0]) in labels:
        label = f"{labels[str(loc[0])]} {_entry_name(data, str(loc[0]), loc[1])}"
        rest = _dotted(loc[2:])
        return f"{label} {rest}" if rest else label
    return _dotted(loc)


def _dotted(loc: Sequence[str | int]) -> str:
    """`evidence[0].item` from ("evidence", 0, "item")."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _entry_name(data: object, section: str, index: int) -> str:
    """`'8.2.6'` for the control at that index, or `#4` when the entry has no usable id."""
    entries = data.get(section) if isinstance(data, dict) else None
    if isinstance(entries, list) and 0 <= index < len(entries):
        entry = entries[index]
        if isinstance(entry, dict):
            for field in ("id", "key"):
                if isinstance(entry.get(field), str):
                    return repr(entry[field])
    return f"#{index + 1}"
