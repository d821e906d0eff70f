"""Photosift's runtime core: catalog, scanning, image I/O, ONNX inference, vector index and search.

Imports neither Qt nor torch. Everything here is usable headless and from worker processes.
"""
