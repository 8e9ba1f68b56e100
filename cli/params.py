"""Command-line options made from the one parameter model: `kcolors quantize` and `kcolors
submit` offer every parameter the API accepts, with its name, help and choices."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

import click

from kcolors.engine.params import QuantizeParams, field_rule
from kcolors.errors import InvalidParameter

F = TypeVar("F", bound=Callable[..., Any])


def option_for(name: str) -> Callable[[F], F]:
    """The click option of one model field; values stay as typed, for the model to check."""
    field = QuantizeParams.model_fields[name]
    description = field.description or ""
    help_text = f"{description[:1].upper()}{description[1:]}."
    flag = "--" + name.replace("_", "-")
    if name == "k":
        return click.option("-k", "k", multiple=True, metavar="K", help=help_text)
    if field.annotation is bool:
        return click.option(f"{flag}/--no-{name}", name, default=None, help=help_text)
    if get_origin(field.annotation) is Literal:
        choices = click.Choice([str(c) for c in get_args(field.annotation)])
        return click.option(flag, name, type=choices, help=help_text)
    metavar = "INTEGER" if field.annotation is int else "NUMBER"
    rule = field_rule(name).removeprefix("a whole number ").removeprefix("a number ")
    return click.option(flag, name, metavar=metavar, help=f"{help_text[:-1]} ({rule}).")


def param_options(command: F) -> F:
    """Add one option per parameter of the model to a click command."""
    for name in reversed(QuantizeParams.model_fields):
        command = option_for(name)(command)
    return command


def given_params(options: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters given on the command line (none for what was left out)."""
    given = {name: options.get(name) for name in QuantizeParams.model_fields}
    given["k"] = list(given["k"] or ())
    return {name: value for name, value in given.items() if value not in (None, [])}


def params_from_options(options: Mapping[str, Any]) -> QuantizeParams:
    """Validate the given parameters; a bad one stops the command with the model's message."""
    try:
        return QuantizeParams.parse(given_params(options))
    except InvalidParameter as exc:
        raise click.UsageError(f"{exc.code}: {exc.message}") from None
