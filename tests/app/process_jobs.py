"""Jobs for tests/app/test_worker.py to run in a child process (a Qt-free module the child can import)."""

import os
import time

from engine.jobs import CancelToken, Progress


def count_to(n: int, progress, token: CancelToken) -> int:
    for i in range(1, n + 1):
        progress(Progress("count", i, n))
    return n * 10


def run_until_cancelled(progress, token: CancelToken) -> None:
    i = 0
    while True:
        i += 1
        progress(Progress("spin", i, 0))
        time.sleep(0.02)
        token.check()  # blocks while paused, raises Cancelled once cancelled


def die(code: int, progress, token: CancelToken) -> None:
    progress(Progress("dying", 0, 1))
    time.sleep(0.5)  # the report leaves (a feeder thread sends it) before the process is gone
    os._exit(code)
