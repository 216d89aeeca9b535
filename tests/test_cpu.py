"""The local model's thread count follows how busy other processes keep the cores."""

from __future__ import annotations

import subprocess
import sys
import time

from assistant.cpu import others_busy, threads_for


def test_threads_drop_to_what_other_work_leaves_free():
    assert threads_for(2, 0.2, cores=2) == 2  # idle: as configured
    assert threads_for(2, 0.6, cores=2) == 1 and threads_for(2, 1.9, cores=2) == 1  # never below one
    assert threads_for(4, 1.0, cores=8) == 4 and threads_for(4, 5.2, cores=8) == 3
    assert threads_for(2, None, cores=2) == 2 and threads_for(1, 2.0, cores=2) == 1


def test_other_processes_count_as_busy_and_this_one_does_not():
    burner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time() + 30\nwhile time.time() < t: pass"])
    try:
        time.sleep(0.5)
        busy = others_busy(0.5)
    finally:
        burner.kill()
    assert busy is not None and busy >= 0.6, busy  # one busy-looping process: about one core (plus any other load)
    import threading

    def spin() -> None:  # this process keeping a core busy is not "others"
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            pass

    spinner = threading.Thread(target=spin)
    spinner.start()
    own = others_busy(0.4)
    spinner.join()
    assert own is not None and own < busy - 0.4, (own, busy)  # relative: the shared machine has other load too
