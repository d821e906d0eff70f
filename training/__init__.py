"""Everything that needs torch/open_clip: model preparation, ONNX export, fine-tuning, evaluation."""

import os

# huggingface_hub 1.x+ adds the torch version and an "AI agent" guess to each request's user agent, and to
# guess fetches {endpoint}/api/agent-harnesses: a request a download does not need. Read when it is imported,
# so set before; training.download also turns it off on a client imported earlier.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
