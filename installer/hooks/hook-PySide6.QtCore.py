"""PyInstaller's own QtCore hook, less Qt's translations (see bundle_layout.keeps_qt_file)."""

from bundle_layout import keeps_qt_file
from PyInstaller.utils.hooks.qt import add_qt6_dependencies

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [(src, dest) for src, dest in binaries if keeps_qt_file(src)]
datas = [(src, dest) for src, dest in datas if keeps_qt_file(src)]
