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
            "--soak",
            type=int,
            default=0,
            metavar="SECONDS",
            help="Only the soak: mixed traffic for SECONDS; memory growth per process and errors (soak.*).",
        )

    def handle(self, *args, **options):
        only = {label for label in options["only"].split(",") if label}
        out_dir = Path(settings.BASE_DIR) / "var" / "bench"
        results: dict[str, float] = {}
        if options["soak"]:
            # The soak alone; the other figures of the last full run stay in results.json beside it.
            previous = out_dir / "results.json"
            if previous.exists():
                results = {k: v for k, v in json.loads(previous.read_text()).items() if not k.startswith("soak.")}
            soak = importlib.import_module("config.soak")  # here: it needs locust, a dev dependency
            self.stderr.write(f"running the soak for {options['soak']} s ...")
            results.update(soak.bench_soak(options["soak"]))
            only = {"-"}  # nothing else
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
                started = time.perf_counter()
                self.stderr.write(f"running {config.label}.{bench.__name__} ...")
                results.update(bench(quick=options["quick"]))
                self.stderr.write(f"  done in {time.perf_counter() - started:.1f}s")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
        (out_dir / "machine.json").write_text(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "machine": platform.machine(),
                    "platform": platform.platform(),
                    "cpus": __import__("os").cpu_count(),
                    # Other work on the machine moves every absolute figure: the ratios to the floors don't.
                    "load_average_at_end": list(__import__("os").getloadavg()),
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
