"""`make bench`: run every app's benchmarks, print a table, write var/bench/results.json.

Each app may have a ``bench.py`` with ``BENCHMARKS``: callables taking ``quick: bool`` and returning
``{"metric.name_unit": value}``. Benchmarks build their own data in the database they are given and
clean up after themselves.
"""

from __future__ import annotations

import importlib
import json
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

    def handle(self, *args, **options):
        only = {label for label in options["only"].split(",") if label}
        select = [part for part in options["select"].split(",") if part]
        results: dict[str, float] = {}
        loads: dict[str, float] = {}
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
                if select and not any(part in f"{config.label}.{bench.__name__}" for part in select):
                    continue
                loads[f"{config.label}.{bench.__name__}"] = round(__import__("os").getloadavg()[0], 1)
                started = time.perf_counter()
                self.stderr.write(f"running {config.label}.{bench.__name__} ...")
                results.update(bench(quick=options["quick"]))
                self.stderr.write(f"  done in {time.perf_counter() - started:.1f}s")
        out_dir = Path(settings.BASE_DIR) / "var" / "bench"
        out_dir.mkdir(parents=True, exist_ok=True)
        written = dict(results)
        if (only or select) and (out_dir / "results.json").exists():
            written = {**json.loads((out_dir / "results.json").read_text()), **results}
        (out_dir / "results.json").write_text(json.dumps(written, indent=2, sort_keys=True))
        (out_dir / "machine.json").write_text(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "machine": platform.machine(),
                    "platform": platform.platform(),
                    "cpus": __import__("os").cpu_count(),
                    # Other work on the machine moves every absolute figure: the ratios to the floors don't.
                    "load_average_at_end": list(__import__("os").getloadavg()),
                    # The one-minute load average as each benchmark started.
                    "load_average_at_start": loads,
                    "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                },
                indent=2,
            )
        )
        width = max((len(name) for name in results), default=10)
        self.stdout.write(f"{'metric':<{width}}  value")
        self.stdout.write("-" * (width + 14))
        for name in sorted(results):
            self.stdout.write(f"{name:<{width}}  {results[name]:,.2f}")
        self.stdout.write(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}")
        self.stdout.write(f"written to {out_dir / 'results.json'}")
