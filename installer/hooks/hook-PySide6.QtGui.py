"""PyInstaller's own QtGui hook, less the Qt plugins the bundle leaves out
(bundle_layout.QT_PLUGINS_LEFT_OUT).  Filtering here, before PyInstaller analyses the
libraries each collected plugin links, keeps the plugins' own dependencies out as well."""

from bundle_layout import keeps_qt_file
from PyInstaller.utils.hooks.qt import add_qt6_dependencies

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [(src, dest) for src, dest in binaries if keeps_qt_file(src)]
datas = [(src, dest) for src, dest in datas if keeps_qt_file(src)]
