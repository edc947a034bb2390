"""Where the node's workers run: embedder pools, index writers and live recorders.

`interface.Cluster` is what the node asks for; `ray_cluster.RayCluster` (the only module that
imports `ray`) runs the workers as Ray actors, `local.LocalCluster` as objects in this process for
unit tests. The workers themselves are plain Python: `embedders`, `index_writers`, `live_recorders`.
"""
