"""The composition root: the ``sealwatch`` command line, the supervised service processes, the demo
and the private servers it starts.

This is the only package that imports every stage (ingest, store, geofence, alerts, customs, api,
maps, simulators); no stage imports it. The kernel every stage shares lives in ``sealwatch``.
"""
