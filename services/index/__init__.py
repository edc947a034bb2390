"""Serving the index: the versions a node serves, search over them, compaction and model switching."""
