"""The packaged app's entry point: the `photosift` command (desktop_app.cli:main); with no arguments, the window.

PyInstaller freezes this script (packaging/photosift.spec). freeze_support() comes first: the index's decode
pool (a fork server) and the window's jobs (spawned processes) start this same executable as their children,
and it turns such a start into the child's work instead of a second window or command.
"""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from desktop_app.cli import main

    raise SystemExit(main())
