"""When a zero-shot tag counts as sure: one threshold for the tagger, the catalog's callers and the window.

A tag's confidence is the model's probability for it among the whole tag vocabulary (engine.tagging).
Chosen on 107 real photos (scikit-image samples and every 4th Tux Paint photo stamp) with the starter
model: tags at or above it are mostly right (frog, violin, a sign, tools, handwriting), those below mostly
noise (a camera tagged "aerial view", a cat "laptop", "watermelon" and "whale" on photos of neither);
173 distinct tags became 65 sure ones. Light on purpose: the window imports it without onnxruntime.
"""

from __future__ import annotations

CONFIDENT = 0.3
