"""Reusable test benches that run the real stack against the simulated card.

``kiosk.testing.pcscd.PcscBench``: a private pcscd + vpcd serving a SimulatedCard
(the PC/SC path).  See its module docstring for the API.
"""
