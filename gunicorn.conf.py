"""Production gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

Workers scale with the CPU count; the app keeps no state in its processes (PostgreSQL and,
when set, Redis are shared), so any number of workers on any number of machines is safe.
"""

import gc
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # Stripe calls time out well before this
graceful_timeout = 30
keepalive = 5
# Recycling bounds memory creep from any leak, ours or a dependency's; worker memory is
# flat under load (bench/ P4), and each recycle costs a fork, a new database connection and
# cold caches, so not more often than this.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = 1000
accesslog = None  # the app logs one JSON line per request itself
errorlog = "-"
# Workers are forked from a master that has already built the app: a recycled worker
# (max_requests) costs a fork instead of importing and building the app again, and workers
# share the code's memory. Connection pools are dropped in each child after the fork, and
# the warm-up below is registered by the app (webapp/speedups.py).
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") != "0"


def when_ready(server):
    """In the master, once the app is loaded and before the first fork (preload_app).

    Only our app registers a warm-up; any other WSGI app served with this file (a
    benchmark's baseline) just gets the gc.freeze below.
    """
    if not preload_app:
        return
    app = server.app.wsgi()
    warm_up = getattr(app, "extensions", {}).get("warm_up")
    if callable(warm_up):
        warm_up()
    # Objects that exist now live as long as the workers: keep the garbage collector from
    # scanning them in every worker (and from copying their pages while it does).
    gc.freeze()


def post_worker_init(worker):
    """In each new worker (first start or recycled), before it accepts a request: opens its
    database connection, so no learner's request waits for PostgreSQL to start a backend.
    Skipped for apps that register no warm-up."""
    warm = getattr(worker.wsgi, "extensions", {}).get("warm_worker")
    if callable(warm):
        warm()
