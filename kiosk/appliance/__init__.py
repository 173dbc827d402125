"""The appliance: systemd notify/watchdog, health, technician tools."""
