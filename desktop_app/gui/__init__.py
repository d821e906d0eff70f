"""The PySide6 window. Imported only when the window opens, never by CLI commands."""
