"""The WebSockets: the client's and the console's, and the connection under both."""
