"""sealwatch: customs e-seal and transit-tracking telemetry.

This package is the kernel every stage imports: configuration, logging, the wire format, fix
records and reference geography. It imports none of the stages. The stages are the top-level
packages ingest/, store/, geofence/, alerts/, customs/, api/, maps/ and simulators/; the command
line and the processes that wire them together live in launcher/.
"""

__version__ = "0.1.0"
