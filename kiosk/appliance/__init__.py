"""kiosk.appliance"""
