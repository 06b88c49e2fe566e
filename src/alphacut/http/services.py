"""The services ``alphacut.bootstrap.build`` made, found through the request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from alphacut.bootstrap import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
