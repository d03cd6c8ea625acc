"""The HTTP service: a thin FastAPI layer over :mod:`rag`.

``create_app(settings, rag=None)`` builds the app (tests pass a ``Rag`` built with
fakes); ``serve(settings, host=..., port=...)`` runs it with uvicorn (``rag serve``).
"""
