"""Structure limits the project holds itself to (issue 10), checked in CI.

- no function or method above cyclomatic complexity 20 (radon's measure);
- no module above 600 lines, outside migrations and tests.

A long decision chain becomes a table of small functions and a long module a package of modules
(docs/architecture.md); this check keeps it that way. Run: `.venv/bin/python .ci/structure.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parent.parent
MAX_COMPLEXITY = 20
MAX_LINES = 600
SKIP_PARTS = {".venv", "migrations", "tests", "var", "node_modules", ".git"}


def sources() -> list[Path]:
    return sorted(path for path in ROOT.rglob("*.py") if not SKIP_PARTS.intersection(path.relative_to(ROOT).parts))


def main() -> int:
    problems = []
    for path in sources():
        text = path.read_text()
        name = path.relative_to(ROOT)
        lines = text.count("\n")
        if lines > MAX_LINES:
            problems.append(f"{name}: {lines} lines (limit {MAX_LINES}): split it at its seams")
        for block in cc_visit(text):
            if block.complexity > MAX_COMPLEXITY:
                problems.append(
                    f"{name}:{block.lineno} {block.name}: complexity {block.complexity} (limit {MAX_COMPLEXITY})"
                )
    for problem in problems:
        print(problem)
    print(f"structure: {len(sources())} modules checked, {len(problems)} over the limits")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
