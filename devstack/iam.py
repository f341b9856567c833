"""The functions' IAM policies, enforced on the local stack.

moto answers any call from anyone; in AWS a function's role refuses what its policies do not grant,
and a missing action shows up only in production (``GET /payments`` once read its page with a
``BatchGetItem`` its role did not have). While a function's handler runs (``runtime.CURRENT_FUNCTION``)
every AWS call it makes is checked against that function's policy statements in template.yaml, and
refused as AWS would refuse it (a ``ClientError`` ``AccessDeniedException``, status 400) before it is
sent to moto:

- the action is ``<service>:<Operation>``; a DynamoDB transaction is checked item by item, as AWS
  authorises it (``Put`` as ``PutItem``, ``Update`` as ``UpdateItem``, ``Delete`` as ``DeleteItem``,
  ``ConditionCheck`` as ``ConditionCheckItem``, ``Get`` as ``GetItem``);
- for DynamoDB the resource too: the table's ARN, or ``<table ARN>/index/<name>`` for an index query,
  matched against the statement's resources (``*`` wildcards as IAM matches them).

Other services are checked by action. Calls made outside a handler (provisioning, the tests' own
clients) are not checked.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore import handlers
from botocore.exceptions import ClientError

from devstack.template import ACCOUNT_ID, Template

TRANSACT_PARTS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


@dataclass(frozen=True)
class Statement:
    actions: frozenset[str]
    resources: tuple[str, ...]

    def allows(self, action: str, resource: str | None) -> bool:
        if not any(fnmatch.fnmatchcase(action, pattern) for pattern in self.actions):
            return False
        return resource is None or any(fnmatch.fnmatchcase(resource, pattern) for pattern in self.resources)


def statements(template: Template, logical_id: str) -> list[Statement]:
    """The Allow statements of a function's policies (or of its own role's), resolved to local ARNs."""
    properties = template.properties(logical_id)
    policies = list(properties.get("Policies") or [])
    role = properties.get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        policies += [p["PolicyDocument"] for p in template.properties(role["Fn::GetAtt"][0]).get("Policies") or []]
    found: list[Statement] = []
    for policy in policies:
        if not isinstance(policy, dict):
            continue
        for statement in policy.get("Statement", []):
            if statement.get("Effect", "Allow") != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = template.resolve(statement.get("Resource", "*"), endpoint=None)
            resources = resources if isinstance(resources, list) else [resources]
            found.append(Statement(frozenset(actions), tuple(str(r) for r in resources)))
    return found


def _table_arn(region: str, table: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}"


def requests_of(service: str, operation: str, params: dict[str, Any], region: str) -> Iterator[tuple[str, str | None]]:
    """(action, resource) pairs a call is authorised as; resource None where only the action is checked."""
    if service != "dynamodb":
        yield f"{service}:{operation}", None
        return
    if operation in ("TransactWriteItems", "TransactGetItems"):
        for item in params.get("TransactItems", []):
            for kind, part in item.items():
                yield f"dynamodb:{TRANSACT_PARTS[kind]}", _table_arn(region, part["TableName"])
        return
    if operation in ("BatchGetItem", "BatchWriteItem"):
        for table in params.get("RequestItems", {}):
            yield f"dynamodb:{operation}", _table_arn(region, table)
        return
    table = params.get("TableName")
    resource = _table_arn(region, table) if table else None
    if resource and params.get("IndexName"):
        resource += f"/index/{params['IndexName']}"
    yield f"dynamodb:{operation}", resource


class LocalIam:
    def __init__(self, template: Template) -> None:
        self.template = template
        self._statements: dict[str, list[Statement]] = {}

    def refusal(self, function: str, service: str, operation: str, params: dict[str, Any], region: str) -> str | None:
        """Why AWS would refuse this call from ``function``'s role, or None if its policies allow it."""
        if function not in self._statements:
            self._statements[function] = statements(self.template, function)
        granted = self._statements[function]
        for action, resource in requests_of(service, operation, params, region):
            if not any(statement.allows(action, resource) for statement in granted):
                return (
                    f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{function}Role/{function} is not authorized to "
                    f"perform: {action} on resource: {resource or '*'} because no identity-based policy allows "
                    f"the {action} action"
                )
        return None

    def before_parameter_build(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        from devstack.runtime import CURRENT_FUNCTION

        function = CURRENT_FUNCTION.get()
        if function is None:
            return
        service_model = model.service_model
        service = service_model.signing_name or service_model.endpoint_prefix
        why = self.refusal(function, service, model.name, params, self.template.region)
        if why is not None:
            raise ClientError(
                {
                    "Error": {"Code": "AccessDeniedException", "Message": why},
                    "ResponseMetadata": {
                        "HTTPStatusCode": 400,
                        "RequestId": "local-iam",
                        "HTTPHeaders": {},
                        "HostId": "",
                        "RetryAttempts": 0,
                    },
                },
                model.name,
            )


_INSTALLED: list[LocalIam] = []


def enforce(template: Template) -> LocalIam:
    """Checks every call a function makes from now on (every botocore session created after this)."""
    iam = LocalIam(template)
    if _INSTALLED:
        _INSTALLED[0].template = template
        return _INSTALLED[0]
    handlers.BUILTIN_HANDLERS.append(("before-parameter-build", iam.before_parameter_build))
    _INSTALLED.append(iam)
    return iam
