"""The trust boundary: bearer tokens, the keyed audit trail, Ray authentication and the exposure doctor."""
