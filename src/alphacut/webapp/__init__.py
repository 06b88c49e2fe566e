"""The web app: the editor and the account pages, server-rendered (Jinja2), with every
asset served locally. ``install_webapp`` (in :mod:`alphacut.webapp.install`) wires it in."""
