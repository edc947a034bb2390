"""The node: the composition root that builds every part from settings, and process concerns
(metrics, heap, periodic tasks)."""
