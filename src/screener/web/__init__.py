"""The web page: a person types a patient's medications, conditions, allergies and age, and reads the report.

    from screener.service import create_app     # create_app calls mount_page(app, knowledge)
    from screener.web import bind
    app = create_app()
    bind(app, "127.0.0.1")                      # what `screener serve` does: the page opens on loopback

`mount_page` adds the page at `/`, its JSON API under `/api/page/`, and the OpenAPI docs at `/docs`
from the vendored Swagger UI (see `page`). Who may use it is decided by `access`: open when the server
binds loopback, behind `$SCREENER_PAGE_TOKEN` when one is set, off otherwise. Everything the page
loads is package data under `static/`; nothing comes from a CDN.
"""

from __future__ import annotations

from dataclasses import replace

from .access import TOKEN_ENV, Access, PagePolicy

__all__ = ["TOKEN_ENV", "Access", "PagePolicy", "bind", "mount_page"]


def mount_page(app, knowledge, *, token: str | None = None) -> None:
    """Add the page, its API and the local OpenAPI docs to the FastAPI `app`, screening with `knowledge`.

    `token` defaults to `$SCREENER_PAGE_TOKEN` (read now). Until `bind` says the server binds
    loopback, the page is off unless a token is set.
    """
    from .page import mount_routes

    mount_routes(app, knowledge, PagePolicy.from_environment(token))


def bind(app, host: str) -> Access:
    """Record that `app` is served on `host` (which decides whether the page opens without a token);
    returns the page's access."""
    app.state.page_policy = replace(app.state.page_policy, bind=host)
    return app.state.page_policy.access
