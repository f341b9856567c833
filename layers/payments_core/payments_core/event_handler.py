"""Powertools Event Handler's HTTP API resolver, without the package's other resolvers.

``aws_lambda_powertools/event_handler/__init__.py`` imports every resolver it exports (AppSync, AppSync
Events, Bedrock Agent, Lambda Function URL, VPC Lattice...) whichever one a function uses, so importing
``APIGatewayHttpResolver`` from its own module still runs all of them. Here the package is put in
``sys.modules`` without running its ``__init__`` (``lazy_imports.package_without_init``): the resolver
module is the real one, and a name only the package's ``__init__`` provides still resolves (it runs
the ``__init__`` then). The same for the data classes package it reads its event classes from. The
API functions import the Event Handler from here only.
"""

from __future__ import annotations

from payments_core.lazy_imports import package_without_init

# The resolver's module reads its event classes from the data classes package, whose own __init__
# imports every event class Powertools has (CodePipeline's brings zipfile and tempfile...).
package_without_init("aws_lambda_powertools.utilities.data_classes")
package_without_init("aws_lambda_powertools.event_handler")

from aws_lambda_powertools.event_handler import content_types  # noqa: E402
from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver, Response  # noqa: E402

__all__ = ["APIGatewayHttpResolver", "Response", "content_types"]
