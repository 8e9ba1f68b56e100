"""The many-files runner of `kcolors quantize`: every input in one process, or in N with -j.

Each file is decoded, quantized and written where `cli.quantize.plan_outputs` decided; only its
statistics come back. Results come out in the order of the inputs. On a terminal a progress bar
(tqdm, on stderr) counts the files; elsewhere nothing but the results is printed.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from kcolors.engine.params import QuantizeParams

if TYPE_CHECKING:
    from cli.output_plan import OutputPlan


@dataclass
class FileResult:
    """What became of one input: its statistics and outputs, or a one-line error."""

    plan: OutputPlan
    input_stats: dict[str, Any] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def quantize_file(plan: OutputPlan, params: QuantizeParams) -> FileResult:
    """Quantize one file and write its outputs as they come (in this process)."""
    from kcolors.engine.outputs import QuantizedOutput
    from kcolors.engine.quantize import quantize_image
    from kcolors.errors import KcolorsError

    try:
        data = plan.input_path.read_bytes()
    except OSError as exc:
        return FileResult(plan, error=f"cannot read {plan.input_path}: {exc.strerror}")
    result = FileResult(plan)

    def save(output: QuantizedOutput) -> None:
        path = plan.path(output.k, output.extension)
        path.parent.mkdir(parents=True, exist_ok=True)
        # "x": the auto-k output's name is known only now; it too never overwrites unasked.
        with path.open("wb" if plan.force else "xb") as file:
            file.write(output.data)
        result.outputs.append({"path": str(path), **output.stats})

    try:
        report = quantize_image(data, params, on_output=save)
    except KcolorsError as exc:
        result.error = f"{exc.code}: {exc.message}"
    except FileExistsError as exc:
        result.error = f"{exc.filename} exists: --force overwrites it"
    except OSError as exc:
        result.error = f"cannot write {exc.filename or 'an output'}: {exc.strerror}"
    else:
        result.input_stats = report.input_stats
    return result


class FileRunner:
    """Iterate over the results of quantizing `plans`, in their order."""

    def __init__(self, plans: list[OutputPlan], params: QuantizeParams, jobs: int) -> None:
        self.plans = plans
        self.params = params
        self.jobs = max(1, min(jobs, len(plans)))
        self.bar: Any = None

    def echo(self, text: str, err: bool = False) -> None:
        """Print results (or, with `err`, an error on stderr) without breaking the progress bar."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr if err else sys.stdout)
        else:
            click.echo(text, err=err)

    def _start_bar(self) -> None:
        if len(self.plans) > 1 and sys.stderr.isatty():
            from tqdm import tqdm  # only a terminal pays for the import

            tqdm.monitor_interval = 0  # no monitor thread (worker processes fork)
            self.bar = tqdm(total=len(self.plans), unit="file", file=sys.stderr, leave=False)

    def __iter__(self) -> Iterator[FileResult]:
        if self.jobs == 1:
            self._start_bar()
            try:
                for plan in self.plans:
                    result = quantize_file(plan, self.params)
                    if self.bar is not None:
                        self.bar.update(1)
                    yield result
            finally:
                self._close_bar()
            return
        methods = multiprocessing.get_all_start_methods()
        # fork: the workers start with the engine already imported (Linux); spawn elsewhere.
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        if "fork" in methods:
            import kcolors.engine.quantize  # noqa: F401  (imported once, before the workers fork)
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=context) as pool:
            futures: list[Future[FileResult]] = [
                pool.submit(quantize_file, plan, self.params) for plan in self.plans
            ]
            self._start_bar()
            try:
                for future in futures:
                    future.add_done_callback(self._count)
                for future in futures:
                    yield future.result()
            finally:
                self._close_bar()

    def _count(self, _: Future[FileResult]) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
