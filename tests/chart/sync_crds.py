"""Copy the generated CRDs (``crds/*.yaml``) into the chart (``charts/training-hub/crds/``), byte for byte.

Helm packages drop symlinks, so the chart holds real copies; ``test_chart_files.py`` fails when they differ.
Run after ``make crds``::

    .venv/bin/python -m tests.chart.sync_crds
"""

from __future__ import annotations

import shutil
import sys

from tests.chart.helm import CHART_DIR, REPO_ROOT


def main() -> int:
    """Copy every top-level CRD file into the chart; print what changed."""
    for src in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        dst = CHART_DIR / "crds" / src.name
        if dst.exists() and dst.read_bytes() == src.read_bytes():
            continue
        shutil.copyfile(src, dst)
        print(f"copied {src.relative_to(REPO_ROOT)} -> {dst.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
