"""Persistence for accounts, keys, credits, usage, rate limits and webhook events.

Open one with :func:`alphacut.storage.factory.open_store`; code against the
Protocols in :mod:`alphacut.storage.base`.
"""
