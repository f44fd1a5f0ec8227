"""PySide6 desktop application (technician screen, review queue, keyboard scoring).

Built in its own issue; the ``sleepvit-gui`` command is declared in ``pyproject.toml`` when it
lands. Nothing else imports this package (DESIGN.md: dependency direction).
"""
