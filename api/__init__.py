"""FastAPI application: REST endpoints, live streams and the operations pages."""
