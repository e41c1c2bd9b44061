"""sealwatch: customs e-seal and transit-tracking telemetry.

This package holds what every stage shares: configuration, logging, the wire format,
reference geography and the command line. The stages themselves are the top-level
packages ingest/, store/, geofence/, alerts/, customs/, api/, maps/ and simulators/.
"""

__version__ = "0.1.0"
