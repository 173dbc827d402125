"""kiosk.leds"""
