"""kiosk.linkage"""
