"""Identity's HTTP front (Starlette): routes that only convert requests and responses for
``services.identity.oidc``, server-rendered pages (jinja2, message catalogues fr/en), CSRF,
security headers. ``app.create_app(provider)``; ``app.add_http_front(runtime, context)``.
"""
