"""kiosk.printer: receipts rendered with Pillow + a CJK font, printed with python-escpos.

See docs/printer.md.  ``receipt`` decides what goes on paper, ``service``
prints without blocking the session, ``backend`` talks to the printer.
"""
