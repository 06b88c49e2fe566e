"""What the two HTTP adapters (the API in ``web``, the pages in ``webapp``) share: the
services on the app, the caller's credentials, error rendering, middleware, metrics."""
