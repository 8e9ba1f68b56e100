"""The parameters a request may send, as QuantizeParams.parse reads them (kcolors/engine/
params.py): the model's own schema first, then each other form the parser takes for it, so
that a fuzzer or a client generator reading the document knows exactly what is accepted.

- `null` for any field means its default, as an absent field does;
- a number may be a plain ASCII digit string (`"16"`, `"38.5"`), as forms send them;
- a boolean may be one of the words forms send (`on`, `1`, `yes`, ... in any case);
- a choice may be empty (a form's blank option: the default), in any case, with spaces;
- `k` may be one number, or a comma-separated string, or a list of either.
"""

from __future__ import annotations

from typing import Any

from kcolors.engine.params import FALSE_WORDS, TRUE_WORDS, QuantizeParams
from kcolors.jobs.settings import Settings

WHOLE = r"^\s*-?[0-9]+\s*$"
DECIMAL_OR_EMPTY = r"^\s*(-?[0-9]+(\.[0-9]+)?)?\s*$"
K_LIST = r"^\s*(-?[0-9]+)?\s*(,\s*(-?[0-9]+)?\s*)*$"
NULL = {"type": "null"}


def any_case(word: str) -> str:
    """A regular-expression piece matching `word` in any case (JSON Schema has no `(?i)`)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def words(choices: list[str]) -> str:
    """A pattern for one of `choices`, in any case, with spaces around."""
    return rf"^\s*({'|'.join(any_case(w) for w in choices)})\s*$"


BOOLEAN_WORDS = words([*TRUE_WORDS, *FALSE_WORDS])


def model_fields(settings: Settings) -> dict[str, dict[str, Any]]:
    """The model's schema of each field, with this server's k limit and empty choices."""
    properties = QuantizeParams.model_json_schema()["properties"]
    fields = {
        name: {k: v for k, v in schema.items() if k != "title"}
        for name, schema in properties.items()
    }
    fields["k"]["maxItems"] = settings.max_k_values
    for schema in fields.values():
        # A choice sent empty (a form's blank option) means its default: QuantizeParams.parse.
        if "enum" in schema and "" not in schema["enum"]:
            schema["enum"] = [*schema["enum"], ""]
            schema["description"] = f"{schema.get('description', '')} (empty: the default)"
    return fields


def other_forms(name: str, schema: dict[str, Any]) -> list[dict[str, Any]]:
    """What else the parser reads for a field of this schema."""
    if schema.get("type") == "boolean":
        return [{"type": "string", "pattern": BOOLEAN_WORDS}]
    if "enum" in schema:
        return [{"type": "string", "pattern": words(schema["enum"])}]
    if schema.get("type") == "integer":
        return [{"type": "string", "pattern": WHOLE}]
    if schema.get("type") == "array":  # k
        item = {"anyOf": [schema["items"], {"type": "string", "pattern": K_LIST}]}
        return [
            {**schema, "items": item},
            schema["items"],
            {"type": "string", "pattern": K_LIST},
        ]
    if any(alt.get("type") == "number" for alt in schema.get("anyOf", [])):  # target_psnr
        return [{"type": "string", "pattern": DECIMAL_OR_EMPTY}]
    return []


def request_fields(settings: Settings) -> dict[str, Any]:
    """Each field a request may send: the model's schema, the other forms read as it, null."""
    fields = {}
    for name, schema in model_fields(settings).items():
        core = {k: v for k, v in schema.items() if k not in ("default", "description")}
        alternatives = [core, *other_forms(name, core)]
        if NULL not in alternatives and NULL not in core.get("anyOf", []):
            alternatives.append(NULL)
        fields[name] = {
            "anyOf": alternatives,
            "default": schema.get("default"),
            "description": f"{schema.get('description', '')} (null: the default)",
        }
    return fields
