# Replaces PyInstaller's own matplotlib run-time hook (a hooks folder's rthooks.dat takes
# precedence), which points MPLCONFIGDIR at a new temporary folder on every start, so that
# matplotlib rebuilds its font cache each time.  The cache goes to the user's cache folder
# instead, one per install location: the font list names the bundled fonts by absolute path.
# Nothing is written inside the (possibly read-only) bundle folder.  A user's own
# MPLCONFIGDIR is respected.


def _pyi_rthook():
    import hashlib
    import os
    import sys

    if os.environ.get("MPLCONFIGDIR"):
        return
    import platformdirs

    install = hashlib.sha256(os.fsencode(sys._MEIPASS)).hexdigest()[:12]
    cache = platformdirs.user_cache_path("sleepvit", appauthor=False)
    os.environ["MPLCONFIGDIR"] = str(cache / f"matplotlib-{install}")


_pyi_rthook()
del _pyi_rthook
