"""HTTP and WebSocket edge: app factory, handlers, static files."""
