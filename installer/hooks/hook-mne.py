"""MNE, the EDF/BDF reader of last resort (sleepvit.io.edf falls back to it for files pyedflib
refuses), imports its subpackages lazily through lazy_loader stubs (``__init__.pyi``) that
PyInstaller's import analysis cannot read.  Collect the stubs, which lazy_loader reads at run
time, and as hidden imports what reading a raw EDF/BDF reaches through them: every helper of
``mne.utils``, and the modules of the other lazy packages that ``read_raw_edf`` and
``get_data`` import.  The rest of MNE (other file readers, visualisation, source imaging,
reports) is never analysed, and stays out.  The bundle's test reads a file through this path.
"""

import ast
from pathlib import Path

from PyInstaller.utils.hooks import collect_data_files, copy_metadata, get_package_paths

EDF_READER_MODULES = [
    "mne.io.edf",
    "mne.annotations",
    "mne.channels.channels",
    "mne.channels.layout",
    "mne.time_frequency.multitaper",
    "mne.time_frequency.psd",
    "mne.time_frequency.spectrum",
    "mne.html_templates._templates",
]


def stub_imports(package: str) -> set[str]:
    """Modules named by ``package``'s lazy stub (``from .x import y``, ``from . import x``)."""
    _, folder = get_package_paths(package)
    stub = ast.parse(Path(folder, "__init__.pyi").read_text(encoding="utf-8"))
    modules = set()
    for node in ast.walk(stub):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                modules.add(f"{package}.{node.module}")
            else:
                modules.update(f"{package}.{alias.name}" for alias in node.names)
    return modules


hiddenimports = sorted(stub_imports("mne.utils")) + EDF_READER_MODULES
datas = collect_data_files("mne", includes=["**/*.pyi"]) + copy_metadata("mne")
