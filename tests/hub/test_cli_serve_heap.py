"""A serving process settles its heap once its app is built: what start-up made is frozen (the collector
never traverses it again) and the young generation is collected less often."""

from __future__ import annotations

import gc
import subprocess
import sys


def test_settle_heap_freezes_what_start_up_made_and_raises_the_thresholds() -> None:
    # In a process of its own: a frozen heap is never freed, which the test process must not suffer.
    code = (
        "import gc\n"
        "from hub.runtime import GC_THRESHOLDS, settle_heap\n"
        "junk = [[i] for i in range(50000)]\n"
        "before = gc.get_freeze_count()\n"
        "settle_heap()\n"
        "assert gc.get_freeze_count() >= before + 50000, gc.get_freeze_count()\n"
        "assert gc.get_threshold() == GC_THRESHOLDS\n"
        "assert GC_THRESHOLDS[0] > 700\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert gc.get_freeze_count() == 0  # this process was left alone
