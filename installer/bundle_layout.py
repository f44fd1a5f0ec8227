"""What goes into the hospital-workstation bundle, shared by sleepvit.spec and build.py."""

BUNDLE_NAME = "sleepvit"
"""The folder under dist/ (``dist/sleepvit/``) and the name of its main program."""

PROGRAMS: dict[str, bool] = {"sleepvit": False, "sleepvit-gui": True}
"""Console scripts the bundle ships when pyproject.toml declares them -> windowed (no console
window on Windows and macOS)."""

EXCLUDED_PACKAGES: tuple[str, ...] = (
    # Training and export: the bundle scores with ONNX Runtime; DESIGN.md keeps the scoring
    # runtime free of torch, timm and captum.  onnx is the exporter (onnxruntime stays).
    "torch", "torchvision", "torchgen", "functorch", "triton", "nvidia", "timm", "captum",
    "safetensors", "huggingface_hub", "onnx", "sympy", "networkx",
    # ONNX Runtime's offline tools (quantization and the transformer optimizer import onnx).
    "onnxruntime.quantization", "onnxruntime.transformers", "onnxruntime.tools",
    # Development-only peers (GSSC is AGPL) and what they pull in.
    "gssc", "yasa", "lightgbm", "sklearn", "numba", "llvmlite", "pandas", "seaborn", "antropy",
    "lspopt", "joblib",
    # Optional parts of the runtime's libraries that scoring never reaches: MNE's dataset
    # downloads (pooch, requests) and HTML reprs (jinja2), NumPy's build-configuration dump
    # (yaml), Pillow's AVIF and WebP codecs, colour management and Tk bridge (the bundle
    # writes PNG and PDF only).
    "pooch", "requests", "urllib3", "charset_normalizer", "jinja2", "markupsafe", "yaml",
    "PIL._avif", "PIL.AvifImagePlugin", "PIL._webp", "PIL.WebPImagePlugin",
    "PIL._imagingcms", "PIL.ImageCms", "PIL._imagingtk", "PIL.ImageTk",
    # OpenSSL: nothing in the bundle opens a network connection, hashlib falls back to
    # Python's own hashes, and a workstation's vulnerability scanner has one OpenSSL less to
    # flag.
    "ssl", "_ssl", "_hashlib",
    # Development tooling.
    "pytest", "_pytest", "pytestqt", "hypothesis", "IPython", "PyInstaller", "importlinter",
    "grimp", "pip", "setuptools", "pkg_resources", "pypdf", "psutil",
    # Other GUI toolkits (Qt comes in with sleepvit-gui only).
    "tkinter", "_tkinter", "PyQt5", "PyQt6", "PySide2", "wx", "gi",
)
"""Packages kept out by name, whatever the build environment has installed."""

QT_PLUGINS_LEFT_OUT: tuple[str, ...] = (
    # Platforms a workstation's desktop never runs the app on (framebuffer, EGL full screen,
    # VNC, Vulkan display) and their input plugins; xcb, wayland, offscreen and minimal stay.
    "platforms/libqeglfs.so", "platforms/libqlinuxfb.so", "platforms/libqminimalegl.so",
    "platforms/libqvkkhrdisplay.so", "platforms/libqvnc.so", "egldeviceintegrations/", "generic/",
    # The GTK 3 theme drags GTK, cairo, pango and gdk-pixbuf of the build machine into the
    # bundle; without it Qt draws its own Fusion style, the same on every desktop.
    "platformthemes/libqgtk3.so",
    # Image formats the app never reads: it draws its own pages and PNG is built into QtGui.
    "imageformats/libqgif.so", "imageformats/libqicns.so", "imageformats/libqico.so",
    "imageformats/libqjpeg.so", "imageformats/libqpdf.so", "imageformats/libqtga.so",
    "imageformats/libqtiff.so", "imageformats/libqwbmp.so", "imageformats/libqwebp.so",
)
"""Qt plugins (paths under the Qt plugins folder) kept out of the bundle; their own
dependencies then are never collected either (see hooks/hook-PySide6.QtGui.py)."""

QT_EXCLUDED_MODULES: tuple[str, ...] = ("PySide6.QtNetwork",)
"""Qt modules the app does not use that PySide6's package imports would pull in (QtNetwork
brings TLS, Kerberos and network-information plugins)."""


def keeps_qt_file(path: str) -> bool:
    """Is this collected Qt file (source or destination path) part of the bundle?

    Qt's own translations stay out too: the app speaks English, and a dialog translated by
    halves (Qt's buttons in the system language, the app's text in English) is worse.

    >>> keeps_qt_file("PySide6/Qt/plugins/platforms/libqxcb.so")
    True
    >>> keeps_qt_file("PySide6/Qt/plugins/platformthemes/libqgtk3.so")
    False
    >>> keeps_qt_file("PySide6/Qt/translations/qtbase_de.qm")
    False
    """
    path = path.replace("\\", "/")
    if "/Qt/translations/" in path:
        return False
    plugin = path.partition("/Qt/plugins/")[2]
    return not any(
        plugin == left_out or (left_out.endswith("/") and plugin.startswith(left_out))
        for left_out in QT_PLUGINS_LEFT_OUT
    )
