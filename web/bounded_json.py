"""JSON bodies with a size and a depth bound, checked before the parser sees them.

Python's json parser recurses once per nesting level: 100,000 `[` reach `RecursionError`, which
no `ValueError` handler catches (a 500). The API's bodies are small and flat (a key, a few
parameters), so anything bigger or deeper is refused with a 400 naming the bound.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Request

from kcolors.errors import InvalidJson

MAX_JSON_BYTES = 64 * 1024  # a source key, a prefix and the parameters take well under 2 KiB
MAX_JSON_DEPTH = 16  # the deepest body the API takes nests 2 levels
# A string (its escapes included) or a bracket: what nesting is counted on.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def check_bounds(data: str | bytes) -> None:
    """Raise `InvalidJson` if `data` is larger or nests deeper than a request body may."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_JSON_BYTES:
        raise InvalidJson(f"the JSON body is {len(raw):,} bytes, more than {MAX_JSON_BYTES:,}")
    depth = 0
    for token in _TOKENS.finditer(raw):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise InvalidJson(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        elif bracket in (b"]", b"}"):
            depth -= 1


class BoundedRequest(Request):
    """Flask's request, whose JSON body is checked by `check_bounds` before it is parsed (only
    requests: responses, the OpenAPI document among them, are ours and may be large)."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if force or self.is_json:
            check_bounds(self.get_data(cache=True))
        return super().get_json(force=force, silent=silent, cache=cache)
