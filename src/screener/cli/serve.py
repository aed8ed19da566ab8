"""`screener serve`: run the CDS Hooks service (FastAPI under uvicorn).

Import-light on purpose: `screener --help` and `screener check` load this
module, so fastapi and uvicorn are imported only inside the command.
"""

from __future__ import annotations

import click

from .options import knowledge_options, load_from_options
from .output import emit


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. The default is loopback only; bind wider only behind TLS and authentication.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@knowledge_options
@click.option("--max-body", "max_body", default=1_000_000, show_default=True, type=click.IntRange(1_000, None),
              metavar="BYTES", help="Largest request body accepted (413 above it).")
@click.option("--no-fhir-fetch", is_flag=True,
              help="Never read the EHR's FHIR server: missing prefetch is always answered 412.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="URL",
              help="Allow a browser-based EHR sandbox at URL to call the service (repeatable), "
                   "e.g. https://sandbox.cds-hooks.org.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log one line per request (method, path, status: never bodies).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True, help="uvicorn log level.")
def serve(host, port, knowledge_dir, layers, max_body, no_fhir_fetch, cors_origins, access_log, log_level) -> None:
    """Serve the CDS Hooks 2.0 service (order-select, order-sign) for an EHR.

    Discovery is at http://HOST:PORT/cds-services. Request bodies are capped,
    malformed calls get 400/422, and no patient data is written to the logs.
    Cards come from the bundled knowledge (or --knowledge DIR) with the local
    layers of --data or $SCREENER_DATA on top, loaded once at start-up.

    \b
    Examples:
      screener serve
      screener serve --port 9000 --no-access-log
      screener serve --data ./st-elsewhere
      curl http://127.0.0.1:8765/cds-services
    """
    from ..extras import extra_for

    try:
        import uvicorn

        from ..service import create_app
    except ImportError as exc:  # one line and exit 2, naming the extra (see screener.extras)
        raise extra_for(exc, "the CDS Hooks service (screener serve)") or exc from None
    import logging

    # The service's own lines (service id, status, card count, time: never patient data) at the same level.
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    knowledge = load_from_options(knowledge_dir, layers)
    app = create_app(knowledge, max_body_bytes=max_body, fetch_fhir=not no_fhir_fetch,
                     cors_origins=tuple(cors_origins))
    emit(f"screener CDS Hooks service: http://{host}:{port}/cds-services", err=True)
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level=log_level)
