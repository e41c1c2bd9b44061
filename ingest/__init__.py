"""MQTT ingest: subscribe, decode and validate, batch, write to the store, hand batches on."""
