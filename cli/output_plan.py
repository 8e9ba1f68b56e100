"""Where `kcolors quantize` writes: one path per input and k, decided (and checked writable)
before any picture is read. `cli/quantize.py` plans; `cli/quantize_files.py` writes."""

from __future__ import annotations

import os
from pathlib import Path

import click

from kcolors.engine.params import QuantizeParams

# The extension each output format is written with (the engine's OUTPUT_FORMATS, without
# importing the engine and numpy before the options are checked).
EXTENSIONS = {"png": ".png", "webp": ".webp"}


class OutputPlan:
    """Where the outputs of one input go: one path per k (and one for the auto-k output)."""

    def __init__(
        self, input_path: Path, directory: Path, single: Path | None, force: bool = False
    ) -> None:
        self.input_path = input_path
        self.directory = directory
        self.single = single
        self.force = force  # overwrite an existing output

    def path(self, k: int, extension: str) -> Path:
        return self.single or self.directory / f"{self.input_path.stem}.k{k}.{extension}"

    def known_paths(self, params: QuantizeParams) -> list[Path]:
        """The paths known before the work (the auto-k output's k is only known after it)."""
        extension = EXTENSIONS[params.format].lstrip(".")
        if self.single is not None:
            return [self.single]
        return [self.path(k, extension) for k in params.k]


def output_count(params: QuantizeParams) -> int:
    """How many files the parameters make for one input: one per k, one more for a target."""
    return len(params.k) + (params.target_psnr is not None)


def plan_outputs(
    inputs: list[Path],
    params: QuantizeParams,
    output: Path | None,
    out_dir: Path | None,
    force: bool = False,
) -> list[OutputPlan]:
    """Decide every output path, refusing what cannot work before anything is read: an
    existing output too, unless `force`."""
    if output is not None:
        if out_dir is not None or len(inputs) != 1 or output_count(params) != 1:
            raise click.UsageError(
                "-o/--output needs exactly one output: one INPUT and one -k (or --target-psnr)"
            )
        wanted = EXTENSIONS[params.format]
        if output.suffix.lower() != wanted:
            raise click.UsageError(
                f"-o {output}: a {params.format} output must end in {wanted}"
                + ("" if output.suffix else ", not nothing")
            )
    plans = []
    for path in inputs:
        if not path.is_file():
            reason = "no such file" if not path.exists() else "not a file"
            raise click.ClickException(f"cannot read {path}: {reason}")
        if not os.access(path, os.R_OK):
            raise click.ClickException(f"cannot read {path}: permission denied")
        directory = out_dir if out_dir is not None else path.parent
        plans.append(OutputPlan(path, directory, output, force))
    seen: dict[Path, Path] = {}
    for plan in plans:
        for target in plan.known_paths(params):
            key = Path(os.path.abspath(target))
            if key in seen and seen[key] != plan.input_path:
                raise click.UsageError(
                    f"{seen[key]} and {plan.input_path} would both be written to {target}"
                )
            seen[key] = plan.input_path
            if not force and target.exists():
                raise click.ClickException(f"{target} exists: --force overwrites it")
    return plans


def check_writable(plans: list[OutputPlan], parents: bool = False) -> None:
    """Stop with one line unless every output can be written: each output directory is made
    (`--out-dir` always, -o's folder only with `parents`) and a probe file is created in it
    and removed."""
    import tempfile

    checked: set[Path] = set()
    for plan in plans:
        if plan.single is not None:
            if plan.single.is_dir():
                raise click.ClickException(f"cannot write {plan.single}: it is a directory")
            if plan.single.exists() and not os.access(plan.single, os.W_OK):
                raise click.ClickException(f"cannot write {plan.single}: permission denied")
        directory = plan.single.parent if plan.single is not None else plan.directory
        if directory in checked:
            continue
        checked.add(directory)
        existing = Path(os.path.abspath(directory))
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise click.ClickException(
                f"cannot write to {directory}: {existing} is not a directory"
            )
        if plan.single is not None and not parents and not directory.is_dir():
            raise click.ClickException(
                f"cannot write {plan.single}: no folder {directory} (--parents makes it)"
            )
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory, prefix=".kcolors-"):
                pass
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise click.ClickException(f"cannot write to {directory}: {reason}") from None
