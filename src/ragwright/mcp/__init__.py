"""ragwright as an MCP server: search, ask and document listing as tools, documents as resources.

Two transports, one server: stdio for a desktop assistant that starts `ragwright mcp` itself
(stdio.py), and streamable HTTP at /mcp on `ragwright serve` (http.py), where every request is
authenticated by the REST API's keys and each tool and resource reads only what the key may read.
The top layer: it imports the workspace and the server's auth; nothing below imports it."""
