"""Helpers the tests share, imported as `tests.support.<module>` (no `sys.path` edits).

- harness: building, migrating and cleaning an app (`make_app`, `migrate_once`,
  `clean_database`, `backend_database_url`), `free_port`, `driver_statements`.
- auth: the one token helper (`token_for`, and `signed_jwt` for hand-made claims) and the
  one sign-in helper (`sign_in`, `bearer`; `Auth` binds them to the `auth` fixture).
- factories: rows a test starts from (`make_course`, `make_coupon`, `make_user`, ...).
- rows: what the database holds afterwards (`rows`, `enrollments`, `payment_sessions`, ...).
- checkout: the purchase loop through the pages and the Stripe sandbox (`buy`, `pay`, ...).
- webhooks: signed Stripe deliveries (`WEBHOOK_SECRET`, `signed_headers`, ...).
- sandbox: the gateway and sandbox tests' app and helpers.
- browser: Playwright helpers; pg, tcp_proxy, local_servers: servers the tests run.
"""
