"""The only place that imports ray: embedder actors, index-writer actors, live-recorder actors and starting or joining the cluster."""
