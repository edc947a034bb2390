"""The application layer: one service per area (search, playback and evidence, cameras, ingest,
holds, tokens, node administration), plain Python under every transport.

A service takes its dependencies (store ports, registries, the serving index, the audit trail,
settings sections) in its constructor and the `Caller` in every method. It owns the rules a
transport must not repeat: what the caller may see (`Visibility`), what is audited, metrics,
presigning, the fetch policy and the scoping rules of every path. It raises `services.errors`
exceptions; the transport maps them to its statuses in one place. Transports (gRPC servicers,
the coming console) only validate and convert requests, call one method, convert the result.
"""
