"""Field truth: independent scenarios with ground truth, judged by the whole pipeline.

Run: ``python -m bench.fieldtruth [--transits N] [--seed S]``. It builds its own traces along the
shipped routes (``bench.fieldtruth.scenario``: road-like meanders, GPS noise and multipath
outliers, sparse reporting, coverage gaps flushed backlog first or live first, duplicates and
out-of-order delivery, border queues, fuel stops, AETR rest breaks, jams several trucks stand in;
violations injected with their start times), runs them through Mosquitto, ingest, the geofence
engine and the alert service on a scratch database in simulated time (``bench.fieldtruth.run``),
and prints recall and detection delay per violation kind and where it was made, false alarms per
1,000 clean transit-hours by type, and wrong-type alerts (``bench.fieldtruth.score``). Floors:
recall 100 % for every kind; fewer than 1 false alarm per 1,000 clean transit-hours.
"""
