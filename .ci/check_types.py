#!/usr/bin/env python
"""The type gate: mypy on the package may report only the errors listed in mypy_baseline.txt, and
every listed error must still occur, so the baseline can only shrink.

    python .ci/check_types.py            # the gate (exit 1 on a new error or a stale baseline entry)
    python .ci/check_types.py --update   # rewrite the baseline after fixing errors
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = Path(__file__).with_name("mypy_baseline.txt")
_ERROR = re.compile(r"^(?P<path>[^:\s]+):\d+: error: (?P<message>.*)$")


def mypy_errors() -> Counter[str]:
    """mypy's errors on the package as ``path: message [code]``: without line numbers, so that
    moving code does not trip the gate, and counted, so that a second copy of an error does."""
    result = subprocess.run([sys.executable, "-m", "mypy", "resnet_det"], cwd=ROOT, capture_output=True, text=True)
    errors = Counter(f"{m['path']}: {m['message']}" for line in result.stdout.splitlines()
                     if (m := _ERROR.match(line)))
    if result.returncode not in (0, 1) or (result.returncode == 1 and not errors):
        sys.exit(f"mypy did not run:\n{result.stdout}{result.stderr}")
    return errors


def main(argv: list[str]) -> int:
    found = mypy_errors()
    if "--update" in argv:
        BASELINE.write_text("".join(f"{e}\n" for e in sorted(found.elements())))
        print(f"{BASELINE.name}: {sum(found.values())} errors")
        return 0
    allowed = Counter(line for line in BASELINE.read_text().splitlines() if line)
    new, fixed = found - allowed, allowed - found
    for title, errors in (("new type errors (fix them; the baseline only shrinks)", new),
                          ("baseline errors that no longer occur (remove them: python .ci/check_types.py --update)",
                           fixed)):
        if errors:
            print(f"{title}:\n" + "".join(f"  {e}\n" for e in sorted(errors.elements())))
    print(f"mypy: {sum(found.values())} errors, all in the baseline" if not new and not fixed else
          f"mypy gate failed: {sum(new.values())} new, {sum(fixed.values())} fixed but still listed")
    return 1 if new or fixed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
