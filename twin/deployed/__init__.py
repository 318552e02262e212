"""A deployed fleet: its telemetry fitted into a scenario twin can run (``twin calibrate``).

:mod:`twin.deployed.frames` cleans a network server's log into frames and fits each device's
timing, links, losses and battery; :mod:`twin.deployed.pathloss` fits a log-distance model
to the links; :mod:`twin.deployed.calibrate` writes the calibrated scenario and its report.
"""
