"""Fine-tune the model on the library: choose labels, method and epochs, watch loss and validation mAP
live, cancel (keeping the best so far), compare before/after, and switch to the new model in one click."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF
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
from engine.jobs import CancelToken, Progress, eta_text, stage_label
from engine.library import Library

METHODS = (("mcip+realign", "MCIP + re-alignment (recommended)"), ("mcip", "MCIP (pseudo-captions)"),
           ("2sft", "Two-stage (2SFT)"), ("stage1", "Stage 1 only (image search; hurts text search)"))
METRIC_NAMES = {"i2i_map": "Image-to-image mAP", "nn1_acc": "1-NN accuracy", "knn_acc": "k-NN accuracy",
                "zeroshot_acc": "Zero-shot accuracy", "t2i_r1": "Text-to-image R@1", "t2i_r5": "Text-to-image R@5",
                "t2i_r10": "Text-to-image R@10"}


class LivePlot(QWidget):
    """Training loss (left axis, blue) and validation mAP (right axis, orange) against steps."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(520, 220)
        self.loss: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []
        self.total = 1

    def add(self, p: Progress) -> None:
        self.total = max(self.total, p.total)
        if "loss" in p.metrics and math.isfinite(p.metrics["loss"]):
            self.loss.append((p.done, p.metrics["loss"]))
        if "val_map" in p.metrics:
            self.val.append((p.done, p.metrics["val_map"]))
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        area = self.rect().adjusted(48, 14, -48, -26)
        p.setPen(QPen(QColor("#ccc")))
        p.drawRect(area)
        p.setPen(QColor("#444"))
        p.drawText(area.left(), self.height() - 6, "step 0")
        p.drawText(area.right() - 60, self.height() - 6, f"step {self.total}")
        for series, color, side in ((self.loss, "#1f77b4", "left"), (self.val, "#ff7f0e", "right")):
            if not series:
                continue
            values = [v for _, v in series]
            lo, hi = (0.0, 1.0) if side == "right" else (min(values), max(values))
            if hi - lo < 1e-9:
                hi = lo + 1.0
            path = QPainterPath()
            for k, (step, v) in enumerate(series):
                pt = QPointF(area.left() + area.width() * step / max(1, self.total),
                             area.bottom() - area.height() * (v - lo) / (hi - lo))
                path.moveTo(pt) if k == 0 else path.lineTo(pt)
            p.setPen(QPen(QColor(color), 2))
            p.drawPath(path)
            p.setPen(QColor(color))
            label = f"loss {values[-1]:.3f}" if side == "left" else f"val mAP {values[-1]:.3f}"
            x = 4 if side == "left" else self.width() - 100
            p.drawText(x, 12, label)
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
        self.labels.currentIndexChanged.connect(self.update_summary)
        form.addRow("Learn from", self.labels)
        self.method = QComboBox()
        for value, text in METHODS:
            self.method.addItem(text, value)
        form.addRow("Method", self.method)
        self.epochs = QSpinBox(minimum=1, maximum=50)
        self.epochs.setValue(6)
        form.addRow("Epochs", self.epochs)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        form.addRow("Data", self.summary)
        layout.addLayout(form)
        self.plot = LivePlot()
        layout.addWidget(self.plot, 1)
        self.progress = QProgressBar()
        self.status = QLabel()
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["", "Before", "After"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 220)
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
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        for b in (self.start_button, self.cancel_button, self.use_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.data = None
        self.update_summary()

    def update_summary(self) -> None:
        from training.traindata import TrainingDataError, from_catalog

        try:
            with Library.open(self.library_dir) as lib:
                self.data = from_catalog(lib.catalog, str(self.labels.currentData()))
        except TrainingDataError as e:
            self.data = None
            self.summary.setText(str(e))
            self.start_button.setEnabled(False)
            return
        s = self.data.summary()
        text = f"{s['train_photos']} photos to learn from, {s['val_photos']} to check on, in {s['classes']} classes"
        if s["left_out_classes"]:
            text += f"; {len(s['left_out_classes'])} classes with too few photos left out"
        self.summary.setText(text)
        self.start_button.setEnabled(self.job is None and s["classes"] >= 2)

    def start(self) -> None:
        if self.data is None:
            return
        from desktop_app.models_runtime import resolve_model

        data, method, epochs = self.data, str(self.method.currentData()), self.epochs.value()
        base = self.base_model

        def job(progress, token: CancelToken):
            from training.finetune import train

            return train(resolve_model(base, progress), data, method=method, epochs=epochs, progress=progress,
                         cancel=token)

        self.plot.loss.clear()
        self.plot.val.clear()
        self.table.setVisible(False)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.use_button.setEnabled(False)
        self.status.setText("Preparing\u2026")
        self.job = self.runner.start(job, name="training", on_progress=self._progress, on_done=self._done,
                                     on_error=self._failed, on_cancel=lambda: self._failed("Cancelled before any "
                                                                                           "training step."))

    def _progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        if p.stage == "train":
            self.plot.add(p)
        eta = eta_text(p.eta_s) if p.stage == "train" else ""
        self.status.setText(f"{p.message or stage_label(p.stage)} ({p.done}/{p.total})" + (f", {eta}" if eta else ""))

    def _done(self, result: Any) -> None:
        from training.finetune import describe_result

        self.job = None
        self.result = result
        self.cancel_button.setEnabled(False)
        self.start_button.setEnabled(True)
        self.use_button.setEnabled(result.folder is not None)
        rows = describe_result(result)
        self.table.setRowCount(len(rows))
        for r, (key, before, after) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(METRIC_NAMES.get(key, key)))
            self.table.setItem(r, 1, QTableWidgetItem(f"{before:.3f}"))
            item = QTableWidgetItem(f"{after:.3f}  ({after - before:+.3f})")
            item.setForeground(QColor("#1b7f3b" if after >= before else "#b3261e"))
            self.table.setItem(r, 2, item)
        self.table.setVisible(True)
        note = " (cancelled: best checkpoint so far)" if result.cancelled else ""
        self.status.setText(f"New model {result.model_id}{note}, trained in {result.seconds / 60:.1f} min.")

    def _failed(self, message: str) -> None:
        self.job = None
        self.status.setText(message)
        self.cancel_button.setEnabled(False)
        self.update_summary()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.token.cancel()
            self.status.setText("Stopping after this step; keeping the best model so far\u2026")

    def _use(self) -> None:
        if self.result is not None and self.result.folder is not None:
            self.use_model(self.result.model_id)
            self.accept()

    def reject(self) -> None:
        if self.job is not None:
            self.job.token.cancel()
        super().reject()
