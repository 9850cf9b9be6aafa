"""The web administration (ADMIN-1…ADMIN-7): an aiohttp HTTPS server in the node's process,
its REST API under ``/api/v1`` (:mod:`voxgate.web.api`) and server-rendered pages
(:mod:`voxgate.web.ui`), both on the one service layer the CLI uses."""
