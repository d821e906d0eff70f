"""Everything that needs torch/open_clip: model preparation, ONNX export, fine-tuning, evaluation."""
