"""Reading and writing protocol files (YAML or JSON), with errors that name the file and the field path.

``load_protocol("ever-132-002")`` loads a built-in study shipped in ``trialtwin/protocol/studies``;
``load_protocol("path/to/file.yaml")`` loads a file. Any problem (bad YAML, unknown field, negative dose,
unknown unit, reference to an undeclared arm or level, ...) raises :class:`ProtocolError` listing each
problem as ``field.path: message``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from trialtwin.protocol.errors import ProtocolError
from trialtwin.protocol.model import PATH_SEPARATOR, Protocol

_STUDIES = "trialtwin.protocol.studies"


def list_studies() -> list[str]:
    """Ids of the built-in studies."""
    folder = resources.files(_STUDIES)
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def study_path(study: str) -> Path:
    """The file of a built-in study or an existing path; ProtocolError when it is neither."""
    if study in list_studies():
        return Path(str(resources.files(_STUDIES).joinpath(f"{study}.yaml")))
    path = Path(study)
    if path.is_file():
        return path
    raise ProtocolError(
        study, [("", f"no built-in study or file of that name (built-in: {', '.join(list_studies())})")]
    )


def parse_document(text: str, source: str) -> Any:
    """YAML (a superset of JSON) text → plain data; ProtocolError with the line on a syntax error."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "document"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProtocolError(source, [(where, f"not valid YAML/JSON: {problem}")]) from None


def protocol_from_data(data: Any, source: str) -> Protocol:
    """Validate plain data as a protocol; ProtocolError listing every problem with its field path."""
    if not isinstance(data, dict):
        raise ProtocolError(source, [("", "a protocol file must be a mapping of fields")])
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(source, _problems(exc, data)) from None


def load_protocol(study: str) -> Protocol:
    """A built-in study by id, or a protocol file by path."""
    path = study_path(study)
    source = study if study in list_studies() else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(source, [("", f"cannot read the file: {exc}")]) from None
    return protocol_from_data(parse_document(text, source), source)


def protocol_to_data(protocol: Protocol) -> dict[str, Any]:
    """Plain, JSON-compatible data of a protocol (field aliases, no empty defaults)."""
    data: dict[str, Any] = protocol.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data = {"schema_version": protocol.schema_version, **data}
    return data


def dump_protocol(protocol: Protocol, fmt: str = "yaml") -> str:
    """A protocol as YAML (default) or JSON text that :func:`load_protocol` reads back to an equal protocol."""
    data = protocol_to_data(protocol)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


def protocol_json_schema() -> dict[str, Any]:
    """JSON Schema of the protocol file."""
    schema: dict[str, Any] = Protocol.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "trialtwin protocol"
    return schema


def _problems(exc: ValidationError, data: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [part for part in err["loc"] if not _is_union_tag(part)]
        path = _path(loc, data) or "(protocol)"
        # Cross-field checks report several problems in one error, one per line.
        for line in err["msg"].removeprefix("Value error, ").split("\n"):
            sub_path, sep, message = line.partition(PATH_SEPARATOR)
            if sep:
                problems.append((_path(_parse_path(sub_path), data), message))
            else:
                problems.append((path, line))
    # Unions report one error per alternative; keep each (path, message) once, in order.
    return list(dict.fromkeys(problems))


def _is_union_tag(part: int | str) -> bool:
    """Pydantic adds the tried model's name to union error locations (e.g. ``Comparison``)."""
    return isinstance(part, str) and (part[:1].isupper() or part.startswith("function-"))


def _parse_path(path: str) -> list[int | str]:
    """``sites[1].id`` → ``["sites", 1, "id"]``."""
    out: list[int | str] = []
    for part in path.replace("]", "").replace("[", ".").split("."):
        if part:
            out.append(int(part) if part.isdigit() else part)
    return out


def _path(loc: list[int | str], data: Any) -> str:
    """``regimens[2](id=gemcitabine).dose.amount``: list indices shown with the item's id when it has one."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                out += f"(id={item['id']})"
            node = item
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out
