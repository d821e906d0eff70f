"""Probe run by test_qt_threads.py: a 2 ms Qt timer with a Python slot while another thread runs Python."""
import os
import sys
import threading
import time

os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

app = QApplication([])
stop = False


def busy():
    x = 0
    while not stop:
        for i in range(1000):
            x += i
        _ = [None] * 100


t = threading.Thread(target=busy, daemon=True)
t.start()
tm = QTimer()
tm.setInterval(int(sys.argv[2]))
tm.timeout.connect(lambda: None)
tm.start()
end = time.time() + float(sys.argv[1])
while time.time() < end:
    app.processEvents()
    time.sleep(0.001)
stop = True
print("ok")
