"""The shipped weights are package data of sleepvit.models (``weights/<name>/``), found at run
time by ``default_weights_dir()`` next to the module, as in a pip install.  The safetensors
copies are for the torch backend, which the bundle does not have."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("sleepvit.models", excludes=["**/*.safetensors"])
