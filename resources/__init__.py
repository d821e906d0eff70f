"""Data files Photosift ships: tag vocabulary, prompt templates, model registry."""

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent
