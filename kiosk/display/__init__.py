"""kiosk.display"""
