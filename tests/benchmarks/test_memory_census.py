"""The memory census (benchmarks/memory_census.py) against this very process, and its parsers."""

from __future__ import annotations

import pytest

from benchmarks.memory_census import census, parse_pymalloc_stats, rss_by_mapping, smaps_rollup

pytestmark = pytest.mark.unit

SMAPS = """\
55d0c0a00000-55d0c0a21000 r--p 00000000 08:01 1234                       /usr/bin/python3.11
Rss:                 132 kB
Pss:                 132 kB
55d0c2000000-55d0c4000000 rw-p 00000000 00:00 0                          [heap]
Rss:               30000 kB
7f0000000000-7f0004000000 rw-p 00000000 00:00 0
Rss:                4096 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  40 kB
7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   8 kB
"""

PYMALLOC = """\
# arenas allocated total           =                   80
# arenas highwater mark            =                   75
# arenas allocated current         =                   70
70 arenas * 1048576 bytes/arena     =           73,400,320

# bytes in allocated blocks        =           60,000,000
# bytes in available blocks        =              300,000
36 unused pools * 16384 bytes      =              589,824
Total                              =           73,400,320

# arena map mid nodes              =                    1
Total                              =              655,360
"""


def test_rss_by_mapping_sorts_the_mappings_by_kind() -> None:
    assert rss_by_mapping(SMAPS) == {
        "heap": 30000 * 1024,
        "anon": 4096 * 1024,
        "file": 132 * 1024,
        "stack": 40 * 1024,
        "other": 8 * 1024,
    }


def test_pymalloc_figures_are_the_arenas_not_the_arena_map() -> None:
    assert parse_pymalloc_stats(PYMALLOC) == {
        "arenas_highwater": 75,
        "arenas": 70,
        "allocated_blocks": 60_000_000,
        "available_blocks": 300_000,
        "unused_pools": 589_824,
        "total": 73_400_320,
    }


def test_census_of_this_process_adds_up() -> None:
    held = [bytes(100) for _ in range(20_000)]  # ~2.5 MiB of pymalloc blocks in use
    facts = census(trimmed=True, extra={"mine": 1})
    assert facts["mine"] == 1
    rollup = smaps_rollup()
    assert abs(sum(facts["rss_by_mapping"].values()) - rollup["Rss"]) < 0.05 * rollup["Rss"]
    assert facts["malloc"]["uordblks"] > 0 and facts["malloc"]["arena"] >= facts["malloc"]["uordblks"]
    pymalloc = facts["pymalloc"]
    assert pymalloc["total"] >= pymalloc["allocated_blocks"] >= 20_000 * 100
    assert pymalloc["total"] == pymalloc["arenas"] * 2**20  # 1 MiB arenas (Python 3.10+, 64-bit)
    assert facts["objects"]["tracked"] > 1000 and "builtins.dict" in facts["objects"]["by_type"]
    assert facts["trim"]["rss_before"] > 0 and facts["trim"]["rss_after"] > 0
    del held
