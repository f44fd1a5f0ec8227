# ONNX Runtime's official builds (1.2x+ on Linux and macOS too) start a telemetry uploader and
# keep a device identifier and an event cache in the user's folders.  A hospital workstation
# is offline and must not keep either: ORT_DISABLE_TELEMETRY=1, set before ONNX Runtime
# initialises, turns all of it off.  An administrator's own setting is respected.


def _pyi_rthook():
    import os

    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


_pyi_rthook()
del _pyi_rthook
