"""`make bench`: run every app's benchmarks, print a table, write var/bench/results.json.

Each app may have a ``bench.py`` with ``BENCHMARKS``: callables taking ``quick: bool`` and returning
``{"metric.name_unit": value}``. Benchmarks build their own data in the database they are given and
clean up after themselves.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the benchmarks and write var/bench/results.json"

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="Smaller data sets, for a smoke run.")
        parser.add_argument("--only", default="", help="Comma-separated app labels to run.")
        parser.add_argument(
            "--select",
            default="",
            help="Comma-separated benchmark names (`label.function`, or a part of one) to run; with --only "
            "or --select the results are merged into the existing results.json instead of replacing it.",
        )
        parser.add_argument(
            "--soak",
            type=int,
            default=0,
            metavar="SECONDS",
            help="Only the soak: mixed traffic for SECONDS; memory growth per process and errors (soak.*).",
        )

    def handle(self, *args, **options):
        only = {label for label in options["only"].split(",") if label}
        select = [part for part in options["select"].split(",") if part]
        loads: dict[str, float] = {}
        out_dir = Path(settings.BASE_DIR) / "var" / "bench"
        results: dict[str, float] = {}
        if options["soak"]:
            # The soak alone; the other figures of the last full run stay in results.json beside it.
            soak = importlib.import_module("config.soak")  # here: it needs locust, a dev dependency
            self.stderr.write(f"running the soak for {options['soak']} s ...")
            results.update(soak.bench_soak(options["soak"]))
            only = {"-"}  # nothing else
        results.update(self._run(only, select, options["quick"], loads))
        self._write(out_dir, results, loads, merge=bool(only or select))
        width = max((len(name) for name in results), default=10)
        self.stdout.write(f"{'metric':<{width}}  value")
        self.stdout.write("-" * (width + 14))
        for name in sorted(results):
            self.stdout.write(f"{name:<{width}}  {results[name]:,.2f}")
        self.stdout.write(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        self.stdout.write(f"written to {out_dir / 'results.json'}")

    def _run(self, only: set[str], select: list[str], quick: bool, loads: dict[str, float]) -> dict[str, float]:
        results: dict[str, float] = {}
        for config in apps.get_app_configs():
            if only and config.label not in only:
                continue
            try:
                module = importlib.import_module(f"{config.name}.bench")
            except ModuleNotFoundError as exc:
                if exc.name == f"{config.name}.bench":
                    continue
                raise
            for bench in module.BENCHMARKS:
                name = f"{config.label}.{bench.__name__}"
                if select and not any(part in name for part in select):
                    continue
                loads[name] = round(os.getloadavg()[0], 1)
                started = time.perf_counter()
                self.stderr.write(f"running {name} ...")
                results.update(bench(quick=quick))
                self.stderr.write(f"  done in {time.perf_counter() - started:.1f}s")
        return results

    @staticmethod
    def _write(out_dir: Path, results: dict[str, float], loads: dict[str, float], *, merge: bool) -> None:
        """results.json (merged into the existing one when only some benchmarks ran) and machine.json."""
        out_dir.mkdir(parents=True, exist_ok=True)
        written = dict(results)
        if merge and (out_dir / "results.json").exists():
            written = {**json.loads((out_dir / "results.json").read_text()), **results}
        (out_dir / "results.json").write_text(json.dumps(written, indent=2, sort_keys=True))
        (out_dir / "machine.json").write_text(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "machine": platform.machine(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                    # Other work on the machine moves every absolute figure: the ratios to the floors don't.
                    "load_average_at_end": list(os.getloadavg()),
                    # The one-minute load average as each benchmark started.
                    "load_average_at_start": loads,
                    "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                },
                indent=2,
            )
        )
