"""Fine-tune the model on the library: choose labels, method and epochs, watch loss and validation mAP
live, cancel (keeping the best so far), compare before/after, and switch to the new model in one click."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.gui.worker import JobRunner, JobWorker
from engine.jobs import CancelToken, Progress, duration_text, eta_text, stage_label
from engine.library import Library
from training.defaults import RESULT_METRICS
from training.results import report_notes, report_rows

METHODS = (("mcip", "MCIP (pseudo-captions; recommended)"), ("mcip+realign", "MCIP + re-alignment"),
           ("2sft", "Two-stage (2SFT)"), ("stage1", "Stage 1 only (image search; hurts text search)"))
METRIC_NAMES = {"i2i_map": "Image-to-image mAP", "nn1_acc": "1-NN accuracy", "knn_acc": "k-NN accuracy",
                "zeroshot_acc": "Zero-shot accuracy", "t2i_r1": "Text-to-image R@1", "t2i_r5": "Text-to-image R@5",
                "t2i_r10": "Text-to-image R@10"}


COLORS = {"loss": "#1f77b4", "val": "#ff7f0e", "text": "#2ca02c"}
LEFT_OUT_SHOWN = 6  # classes named in the summary line; the tooltip lists them all


class LivePlot(QWidget):
    """Loss (blue), validation mAP (orange) and, while re-aligning, the text score (green) against steps.

    The two stages optimise different losses (ArcMargin/multi-caption, then InfoNCE), so each stage's loss is
    drawn from zero to its own maximum and a divider marks where re-alignment starts; the scores share the
    0-1 axis on the right.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(520, 220)
        self.loss: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []
        self.text: list[tuple[int, float]] = []
        self.stage2_at: int | None = None
        self.total = 1

    def clear(self) -> None:
        self.loss.clear()
        self.val.clear()
        self.text.clear()
        self.stage2_at = None
        self.total = 1
        self.update()

    def add(self, p: Progress) -> None:
        self.total = max(self.total, p.total)
        if p.message.startswith("stage 2") and self.stage2_at is None:
            self.stage2_at = p.done
        if "loss" in p.metrics and math.isfinite(p.metrics["loss"]):
            self.loss.append((p.done, p.metrics["loss"]))
        if "val_map" in p.metrics and math.isfinite(p.metrics["val_map"]):
            self.val.append((p.done, p.metrics["val_map"]))
        if "val_text" in p.metrics and math.isfinite(p.metrics["val_text"]):
            self.text.append((p.done, p.metrics["val_text"]))
        self.update()

    def _segments(self) -> list[tuple[list[tuple[int, float]], float, float]]:
        """The loss split at the start of stage 2, each part with its own (low, high)."""
        cut = self.stage2_at
        parts = [self.loss] if cut is None else [[q for q in self.loss if q[0] <= cut],
                                                  [q for q in self.loss if q[0] > cut]]
        out = []
        for part in parts:
            if part:
                # from zero, not from its minimum: a loss that barely moves should look flat, not jagged
                lo, hi = min(0.0, *(v for _, v in part)), max(v for _, v in part)
                out.append((part, lo, hi if hi - lo > 1e-9 else lo + 1.0))
        return out

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        area = self.rect().adjusted(48, 30, -48, -26)
        p.setPen(QPen(QColor("#ccc")))
        p.drawRect(area)

        def x_of(step: int) -> float:
            return area.left() + area.width() * step / max(1, self.total)

        def draw(series: list[tuple[int, float]], lo: float, hi: float, color: str) -> None:
            path = QPainterPath()
            for k, (step, v) in enumerate(series):
                pt = QPointF(x_of(step), area.bottom() - area.height() * (v - lo) / (hi - lo))
                path.moveTo(pt) if k == 0 else path.lineTo(pt)
            p.setPen(QPen(QColor(color), 2))
            p.drawPath(path)

        p.setPen(QColor("#666"))
        p.drawText(area.left(), self.height() - 6, "step 0")
        p.drawText(area.right() - 60, self.height() - 6, f"step {self.total}")
        p.drawText(area.right() + 6, area.top() + 10, "1.0")
        p.drawText(area.right() + 6, area.bottom(), "0.0")
        if self.stage2_at is not None:
            x = x_of(self.stage2_at)
            p.setPen(QPen(QColor("#999"), 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
            p.setPen(QColor("#666"))
            p.drawText(QPointF(area.left() + 4, area.top() + 14), "image tower")
            p.drawText(QPointF(x + 4, area.top() + 14), "text re-alignment")
        for part, lo, hi in self._segments():
            draw(part, lo, hi, COLORS["loss"])
        for series, color in ((self.val, COLORS["val"]), (self.text, COLORS["text"])):
            if series:
                draw(series, 0.0, 1.0, color)
        legend = [(f"loss {self.loss[-1][1]:.3f}", "loss")] if self.loss else []
        legend += [(f"val mAP {self.val[-1][1]:.3f}", "val")] if self.val else []
        legend += [(f"text score {self.text[-1][1]:.3f}", "text")] if self.text else []
        x = 4
        for label, key in legend:
            p.setPen(QColor(COLORS[key]))
            p.drawText(x, 16, label)
            x += p.fontMetrics().horizontalAdvance(label) + 18
        p.end()


class TrainingDialog(QDialog):
    def __init__(self, library_dir: Path, base_model: str, runner: JobRunner,
                 use_model: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library_dir, self.base_model, self.runner, self.use_model = library_dir, base_model, runner, use_model
        self.job: JobWorker | None = None
        self.result: Any = None
        self.setWindowTitle("Improve search on your photos")
        self.resize(680, 640)
        layout = QVBoxLayout(self)
        intro = QLabel(f"Photosift learns from how your photos are organised, so that \u201cFind similar\u201d "
                       f"finds what you mean, while text search stays as good. Starting from {base_model}; "
                       "the current model is kept.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.labels = QComboBox()
        self.labels.addItem("Folders (albums)", "folders")
        self.labels.addItem("My tags", "tags")
        self.labels.addItem("My albums", "albums")
        self.labels.currentIndexChanged.connect(self.update_summary)
        form.addRow("Learn from", self.labels)
        self.method = QComboBox()
        for value, text in METHODS:
            self.method.addItem(text, value)
        form.addRow("Method", self.method)
        # 0 shows as "Recommended": each stage's epochs as measured best (bench/reproduce_paper.py)
        self.epochs = QSpinBox(minimum=0, maximum=50)
        self.epochs.setSpecialValueText("Recommended")
        self.epochs.setValue(0)
        self.epochs.setToolTip("Passes over the photos in each stage; Recommended uses the settings that "
                               "measured best.")
        form.addRow("Epochs", self.epochs)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        form.addRow("Data", self.summary)
        layout.addLayout(form)
        self.plot = LivePlot()
        layout.addWidget(self.plot, 1)
        self.progress = QProgressBar()
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["", "Before", "After", "Change (95% interval)"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 220)
        self.table.verticalHeader().setVisible(False)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setVisible(False)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button = QPushButton("Use this model")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use)
        self.discard_button = QPushButton("Discard this model")
        self.discard_button.setToolTip("Delete the new model; the model you started from stays as it is.")
        self.discard_button.setVisible(False)
        self.discard_button.clicked.connect(self._discard)
        self.close_button = close = QPushButton("Close")
        close.clicked.connect(self.reject)
        for b in (self.start_button, self.cancel_button, self.use_button, self.discard_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.data = None
        self._summary_gen = 0
        self._close_when_done = False
        self.update_summary()

    def update_summary(self) -> None:
        """Count photos and classes on a worker thread: it stats every photo (seconds on a large library)."""
        from training.traindata import from_catalog

        self._summary_gen += 1
        gen, labels, library_dir = self._summary_gen, str(self.labels.currentData()), self.library_dir
        self.data = None
        self.start_button.setEnabled(False)
        self.summary.setText("Counting photos and classes\u2026")

        def job(_progress, _token: CancelToken):
            with Library.open(library_dir) as lib:
                return from_catalog(lib.catalog, labels)

        self.runner.start(job, name="training data", on_done=lambda data: self._summary_ready(gen, data),
                          on_error=lambda message: self._summary_ready(gen, None, message))

    def _summary_ready(self, gen: int, data: Any, error: str = "") -> None:
        if gen != self._summary_gen:  # the labels changed, or the dialog closed, while it was counting
            return
        self.data = data
        if data is None:
            self.summary.setText(error)
            return
        s = data.summary()
        text = (f"{s['train_photos']} photos to learn from, {s['val_photos']} to choose the checkpoint, "
                f"{s.get('report_photos', 0)} to measure the result, in {s['classes']} classes")
        small = [f"{name} ({n})" for name, n in (s.get("train_only_classes") or {}).items()]
        if small:
            text += ("; too small to measure, used for training only: " + ", ".join(small[:LEFT_OUT_SHOWN])
                     + (f" and {len(small) - LEFT_OUT_SHOWN} more" if len(small) > LEFT_OUT_SHOWN else ""))
        if s.get("sampled"):
            text += (f"; larger classes sampled to {s['sampled']['per_class']} photos each "
                     f"({s['sampled']['photos_not_used']} not used, to keep training time bounded)")
        left = [f"{name} ({n})" for name, n in s["left_out_classes"].items()]
        if left:
            shown = ", ".join(left[:LEFT_OUT_SHOWN]) + (f" and {len(left) - LEFT_OUT_SHOWN} more"
                                                        if len(left) > LEFT_OUT_SHOWN else "")
            text += f"; left out, too few photos: {shown}"
        self.summary.setToolTip("Left out, too few photos:\n" + "\n".join(left) if left else "")
        self.summary.setText(text)
        self.start_button.setEnabled(self.job is None and s["classes"] >= 2)

    def start(self) -> None:
        if self.data is None:
            return
        from desktop_app.background import train_model

        self.plot.clear()
        self.table.setVisible(False)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.use_button.setEnabled(False)
        self.discard_button.setVisible(False)
        self.status.setStyleSheet("")
        self.status.setText("Preparing\u2026")
        # A child process, as indexing: training's Python work would otherwise hold the GIL the window needs
        # (stalls of 200+ ms measured on a thread) and its threads would take the window's CPU.
        self.job = self.runner.start_process(
            train_model, (self.data, self.base_model, str(self.method.currentData()), self.epochs.value() or None),
            name="training", on_progress=self._progress, on_done=self._done, on_error=self._failed,
            on_cancel=lambda: self._failed("Cancelled before any training step."))

    def _progress(self, p: Progress) -> None:
        if p.total > 0:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        else:  # a step whose length is not known: a busy bar, not the last stage's full one
            self.progress.setRange(0, 0)
        if p.stage == "train":
            self.plot.add(p)
        eta = eta_text(p.eta_s) if p.stage in ("prepare", "train") else ""  # the long stages on a big library
        counted = f" ({p.done}/{p.total})" if p.total > 0 else ""
        self.status.setText(f"{p.message or stage_label(p.stage)}{counted}" + (f", {eta}" if eta else ""))

    def _done(self, result: Any) -> None:
        """`result` is background.train_model's plain summary of the run."""
        self.job = None
        self.result = result
        self.cancel_button.setEnabled(False)
        self.start_button.setEnabled(True)
        self.use_button.setEnabled(result.path is not None)
        report = getattr(result, "report", None) or {}
        # worse on balance, or too few photos to measure a gain: "Use this model" is not what Enter does
        worse = bool(getattr(result, "worse", False)) or not report.get("measurable", True)
        self.use_button.setDefault(not worse)
        self.close_button.setDefault(worse)
        self.discard_button.setVisible(result.path is not None)
        rows = report_rows(report) if report else [
            (METRIC_NAMES.get(k, k), f"{result.before.get(k, math.nan):.3f}", f"{result.after.get(k, math.nan):.3f}",
             f"{(result.after.get(k, math.nan) - result.before.get(k, math.nan)) * 100:+.1f} points",
             result.after.get(k, math.nan) < result.before.get(k, math.nan))
            for k in RESULT_METRICS if k in result.before or k in result.after]
        measurable = bool(report.get("measurable", True))
        self.table.setRowCount(len(rows))
        for r, (label, before, after, change, fell) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(label[0].upper() + label[1:]))
            self.table.setItem(r, 1, QTableWidgetItem(before))
            self.table.setItem(r, 2, QTableWidgetItem(after))
            item = QTableWidgetItem(change + ("  worse" if fell else ""))
            # green only for a gain that was measurable at all; a loss is always marked
            item.setForeground(QColor("#b3261e" if fell else "#1b7f3b" if measurable else "#5f6368"))
            self.table.setItem(r, 3, item)
        self.table.setFixedHeight(self.table.horizontalHeader().height() + 2 * self.table.frameWidth()
                                  + sum(self.table.rowHeight(r) for r in range(len(rows))))
        self.table.setVisible(True)
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))  # the plot keeps its room
        note = " (cancelled: best checkpoint so far)" if result.cancelled else ""
        unreadable = result.data.get("unreadable_photos", {})
        skipped = (f" {len(unreadable)} photo(s) could not be read and were left out, e.g. "
                   f"{next(iter(unreadable))}." if unreadable else "")
        name = getattr(result, "name", "") or result.model_id
        verdict = (f" It is worse than {self.base_model} on the held-out photos: keep using {self.base_model}, "
                   "or discard this one." if getattr(result, "worse", False) else "")
        notes = " ".join(report_notes(report, result.data, self.base_model)) if report else ""
        self.status.setText(f"New model \u201c{name}\u201d ({result.model_id}){note}, trained in "
                            f"{duration_text(result.seconds)}.{skipped}{verdict} {notes}".rstrip())
        self.status.setStyleSheet("color: #b3261e;" if worse else "")
        self._finish()

    def _failed(self, message: str) -> None:
        self.job = None
        self.status.setText(message)
        self.cancel_button.setEnabled(False)
        if self._close_when_done:
            self._finish()
        else:
            self.update_summary()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.token.cancel()
            self.status.setText("Stopping after this step; keeping the best model so far\u2026")

    def _discard(self) -> None:
        """Delete the new model folder (nothing else: the base and the library are untouched)."""
        from training.install import remove_model

        if self.result is None or self.result.path is None:
            return
        remove_model(self.result.model_id)
        self.status.setText(f"Discarded {self.result.model_id}; {self.base_model} stays as it was.")
        self.status.setStyleSheet("")
        self.result.path = None
        self.use_button.setEnabled(False)
        self.discard_button.setVisible(False)

    def _use(self) -> None:
        if self.result is not None and self.result.path is not None:
            self.use_model(self.result.model_id)
            self.accept()

    def done(self, result: int) -> None:
        self._summary_gen += 1  # a count still running reports to nobody
        super().done(result)

    def reject(self) -> None:
        """Close (or Esc) during a run stops it like Cancel and closes once the best model so far is saved:
        closing at once would leave a model appearing later, unannounced."""
        if self.job is not None:
            self._close_when_done = True
            self.cancel()
            self.status.setText("Stopping and saving the best model so far; the window closes when done\u2026")
            return
        super().reject()

    def _finish(self) -> None:
        if self._close_when_done:
            self._close_when_done = False
            super().reject()
