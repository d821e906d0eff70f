"""The application: the `photosift` command line and the PySide6 desktop window (Qt imported lazily)."""
