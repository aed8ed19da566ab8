"""`screener serve`: run the CDS Hooks service (FastAPI under uvicorn).

Import-light on purpose: `screener --help` and `screener check` load this
module, so fastapi and uvicorn are imported only inside the command.
"""

from __future__ import annotations

import sys

import click

from .options import knowledge_options, load_from_options
from .output import emit

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""Host names accepted on a loopback bind when the trust file names none (any port)."""


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. The default is loopback only; bind wider only behind TLS.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--trust", "trust_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="TOML (or .json) file naming the EHRs allowed to call (issuers and their JWK Set URLs), the "
                   "service's own URLs, the FHIR servers it may read and the accepted Host names. Without it "
                   "every hook call is refused (401).")
@click.option("--insecure-no-auth", is_flag=True,
              help="Development only, on a loopback address: accept hook calls without a JWT.")
@knowledge_options
@click.option("--max-body", "max_body", default=1_000_000, show_default=True, type=click.IntRange(1_000, None),
              metavar="BYTES", help="Largest request body accepted (413 above it).")
@click.option("--no-fhir-fetch", is_flag=True,
              help="Never read the EHR's FHIR server: missing prefetch is always answered 412.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="URL",
              help="Allow a browser-based EHR sandbox at URL to call the service (repeatable), "
                   "e.g. https://sandbox.cds-hooks.org.")
@click.option("--feedback-file", default="screener-feedback.jsonl", show_default=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Append each card outcome the EHR reports (accepted/overridden, the override "
                                   "reason, times; no patient data) to FILE as a JSON line.")
@click.option("--max-concurrent", default=64, show_default=True, type=click.IntRange(1, None), metavar="N",
              help="Connections and calls in progress at once; more are answered 503 at once rather than queued.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log one line per request (method, path, status: never bodies).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True, help="uvicorn log level.")
def serve(host, port, trust_file, insecure_no_auth, knowledge_dir, layers, max_body, no_fhir_fetch, cors_origins,
          feedback_file, max_concurrent, access_log, log_level) -> None:
    """Serve the CDS Hooks 2.0 service (order-select, order-sign) for an EHR, and the page.

    Discovery is at http://HOST:PORT/cds-services. Every hook call must carry
    a JWT signed by an EHR the --trust file names (CDS Hooks "Trusting CDS
    Clients"); --insecure-no-auth turns that off on loopback, for development.
    Request bodies are capped, malformed calls get 400/422, and no patient data
    is written to the logs. Cards come from the bundled knowledge (or
    --knowledge DIR) with the local layers of --data or $SCREENER_DATA on top,
    loaded once at start-up.

    The page at http://HOST:PORT/ screens one patient in a browser. On a
    loopback HOST it is open to this machine; on any other HOST it is served
    only when $SCREENER_PAGE_TOKEN holds an access token (16 characters or
    more), which the page asks for. The OpenAPI docs are at /docs.

    \b
    Examples:
      screener serve --trust trust.toml
      screener serve --insecure-no-auth --port 9000 --no-access-log
      screener serve --trust trust.toml --data ./st-elsewhere
      curl http://127.0.0.1:8765/cds-services
    """
    from ..extras import extra_for

    try:
        import uvicorn

        from ..service import create_app
        from ..service.auth import Trust, TrustError, is_loopback, load_trust
    except ImportError as exc:  # one line and exit 2, naming the extra (see screener.extras)
        raise extra_for(exc, "the CDS Hooks service (screener serve)") or exc from None
    import logging

    if insecure_no_auth and not is_loopback(host):
        raise click.UsageError(f"--insecure-no-auth is allowed only on a loopback address, not {host}")
    try:
        trust = load_trust(trust_file) if trust_file else Trust()
    except TrustError as exc:
        raise click.ClickException(f"--trust: {exc}") from None

    # The service's own lines (service id, status, card count, time: never patient data) at the same level.
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    knowledge = load_from_options(knowledge_dir, layers)
    # The Host names accepted: the trust file's; with none there, the loopback names when bound to loopback.
    hosts = trust.allowed_hosts or (LOOPBACK_HOSTS if is_loopback(host) else None)
    app = create_app(knowledge, trust=trust, insecure_no_auth=insecure_no_auth, allowed_hosts=hosts,
                     max_body_bytes=max_body, fetch_fhir=not no_fhir_fetch, cors_origins=tuple(cors_origins),
                     feedback_file=feedback_file)
    from ..web import Access, bind

    access = bind(app, host)
    emit(f"screener CDS Hooks service: http://{host}:{port}/cds-services", err=True)
    if insecure_no_auth:
        emit("WARNING: --insecure-no-auth: hook calls are accepted without a JWT; any local program can call "
             "this service. For development only.", err=True)
    elif not trust.issuers:
        emit("screener serve: no --trust file names an EHR, so every hook call is refused (401).", err=True)
    if access is Access.OFF:
        emit(f"screener: {app.state.page_policy.off_reason}", err=True)
    else:
        where = f"[{host}]" if ":" in host else host
        emit(f"screener page: http://{where}:{port}/ "
             + ("(this machine only)" if access is Access.OPEN else "(sign in with $SCREENER_PAGE_TOKEN)"), err=True)
    # Screening runs in worker threads; a 1 ms GIL switch interval (5 ms by default) lets the event loop
    # answer discovery and other light calls promptly while a long screen is running.
    sys.setswitchinterval(0.001)
    # An idle keep-alive connection is closed after 5 s; past --max-concurrent, uvicorn answers 503 at once.
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level=log_level, timeout_keep_alive=5,
                limit_concurrency=max_concurrent, timeout_graceful_shutdown=10)
