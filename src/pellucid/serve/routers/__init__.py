"""One module per resource; each owns its pydantic schemas."""
