"""What sits on the request path of an ASGI app, and the routes bellwatch mounts.

What lives here: the pure-ASGI middleware (:mod:`.middleware`), what it reads from a
scope (:mod:`._scope`), the request line's fast path (:mod:`._request_line`), the
``/metrics`` and ``/health`` apps (:mod:`.endpoints`), the live page
(:mod:`.dashboard`), who may read them (:mod:`._auth`) and correlation ids on outgoing
httpx calls (:mod:`.outgoing`).

May import: ``bellwatch._runtime`` and everything below it.
"""
