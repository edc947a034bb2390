"""The investigator's web console: an ASGI app over the node's own gRPC API (services.console.app),
run beside the gRPC server (services.console.server); the browser app lives in web/."""
