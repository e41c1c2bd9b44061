"""Virtual e-seals that drive real Azerbaijani highway routes and publish telemetry over MQTT."""
