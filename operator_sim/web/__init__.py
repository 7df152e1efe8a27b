"""aiohttp web layer: TLS contexts, client-certificate authentication and (later) the APIs."""
