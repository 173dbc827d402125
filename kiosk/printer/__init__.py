"""kiosk.printer"""
