"""HTTP server: FastAPI app factory, one router per resource."""
