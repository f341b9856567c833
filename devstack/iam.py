"""The functions' IAM policies, enforced on the local stack.

moto answers any call from anyone; in AWS a function's role refuses what its policies do not grant,
and a missing action shows up only in production (``GET /payments`` once read its page with a
``BatchGetItem`` its role did not have). While a function's handler runs (``runtime.CURRENT_FUNCTION``)
every AWS call it makes is checked against that function's policy statements in template.yaml, and
refused as AWS would refuse it (a ``ClientError`` ``AccessDeniedException``, status 400; S3's is
``AccessDenied``, status 403) before it is sent to moto:

- the action is ``<service>:<Operation>``; a DynamoDB transaction is checked item by item, as AWS
  authorises it (``Put`` as ``PutItem``, ``Update`` as ``UpdateItem``, ``Delete`` as ``DeleteItem``,
  ``ConditionCheck`` as ``ConditionCheckItem``, ``Get`` as ``GetItem``);
- for DynamoDB the resource too: the table's ARN, or ``<table ARN>/index/<name>`` for an index query,
  matched against the statement's resources (``*`` wildcards as IAM matches them);
- for the other services the resource too, as IAM names it: an SSM parameter
  (``arn:aws:ssm:<region>:<account>:parameter/<name>``, so a function reading a secret its role is not
  granted is refused locally as in AWS), an EventBridge bus per entry of ``PutEvents``, an SQS queue
  (from its URL), an S3 object (``arn:aws:s3:::<bucket>/<key>``), the SES identity mail is sent from;
- the conditions ``dynamodb:LeadingKeys`` and ``ses:FromAddress``.

An action of a service not listed here is checked by action alone. Calls made outside a handler
(provisioning, the tests' own clients) are not checked.
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
    # (operator, key, allowed values), e.g. ("ForAllValues:StringLike", "dynamodb:LeadingKeys", ("DEFERRED#*",))
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def allows(self, action: str, resource: str | None, context: dict[str, list[str]]) -> bool:
        if not any(fnmatch.fnmatchcase(action, pattern) for pattern in self.actions):
            return False
        if resource is not None and not any(fnmatch.fnmatchcase(resource, pattern) for pattern in self.resources):
            return False
        return all(_holds(operator, key, allowed, context) for operator, key, allowed in self.conditions)


def _holds(operator: str, key: str, allowed: tuple[str, ...], context: dict[str, list[str]]) -> bool:
    """An IAM condition against the request's context keys. A key the request does not carry, or an
    operator not listed here, fails the condition: the check errs towards refusing, never towards AWS
    allowing less than we do."""
    values = context.get(key)
    if values is None:  # (IAM itself counts ForAllValues over an absent key as true)
        return False
    match operator.removeprefix("ForAllValues:").removeprefix("ForAnyValue:"):
        case "StringEquals":
            matches = [value in allowed for value in values]
        case "StringLike":
            matches = [any(fnmatch.fnmatchcase(value, pattern) for pattern in allowed) for value in values]
        case _:
            return False
    return any(matches) if operator.startswith("ForAnyValue:") else all(matches) and bool(matches)


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
            conditions = tuple(
                (operator, key, tuple(str(v) for v in (allowed if isinstance(allowed, list) else [allowed])))
                for operator, keys in template.resolve(statement.get("Condition") or {}, endpoint=None).items()
                for key, allowed in keys.items()
            )
            found.append(Statement(frozenset(actions), tuple(str(r) for r in resources), conditions))
    return found


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{resource}"


def _table_arn(region: str, table: str) -> str:
    return _arn("dynamodb", region, f"table/{table}")


Authorised = tuple[str, str | None, dict[str, list[str]]]


def requests_of(
    service: str, operation: str, params: dict[str, Any], region: str, hash_keys: dict[str, str]
) -> Iterator[Authorised]:
    """(action, resource, condition context) of each thing a call is authorised as; resource None where
    only the action is checked. DynamoDB's context is ``dynamodb:LeadingKeys`` for an item operation
    (the item's partition key value, ``hash_keys``: table -> its partition key attribute); SES's is
    ``ses:FromAddress``."""
    action = f"{service}:{operation}"
    if service == "ses":
        source = str(params.get("Source", ""))
        identity = _arn("ses", region, f"identity/{source.rsplit('@', 1)[-1]}") if source else None
        yield action, identity, ({"ses:FromAddress": [source]} if source else {})
        return
    if service == "ssm":
        names = [params["Name"]] if "Name" in params else list(params.get("Names", []))
        for name in names or [None]:
            yield action, (_arn("ssm", region, f"parameter/{name.lstrip('/')}") if name else None), {}
        return
    if service == "events" and operation == "PutEvents":
        for entry in params.get("Entries", []):
            bus = str(entry.get("EventBusName") or "default")
            yield action, (bus if bus.startswith("arn:") else _arn("events", region, f"event-bus/{bus}")), {}
        return
    if service == "sqs" and "QueueUrl" in params:
        yield action, _arn("sqs", region, str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]), {}
        return
    if service == "s3" and "Bucket" in params:
        key = params.get("Key")
        yield action, f"arn:aws:s3:::{params['Bucket']}" + (f"/{key}" if key is not None else ""), {}
        return
    if service != "dynamodb":
        yield action, None, {}
        return

    def leading(table: str, item: dict[str, Any] | None) -> dict[str, list[str]]:
        value = (item or {}).get(hash_keys.get(table, ""), {})
        return {"dynamodb:LeadingKeys": [str(next(iter(value.values())))]} if value else {}

    if operation in ("TransactWriteItems", "TransactGetItems"):
        for entry in params.get("TransactItems", []):
            for kind, part in entry.items():
                table = part["TableName"]
                context = leading(table, part.get("Key") or part.get("Item"))
                yield f"dynamodb:{TRANSACT_PARTS[kind]}", _table_arn(region, table), context
        return
    if operation in ("BatchGetItem", "BatchWriteItem"):
        for table in params.get("RequestItems", {}):
            yield f"dynamodb:{operation}", _table_arn(region, table), {}
        return
    table = params.get("TableName")
    resource = _table_arn(region, table) if table else None
    if resource and params.get("IndexName"):
        resource += f"/index/{params['IndexName']}"
    yield f"dynamodb:{operation}", resource, leading(table or "", params.get("Key") or params.get("Item"))


class LocalIam:
    def __init__(self, template: Template) -> None:
        self.template = template
        self._statements: dict[str, list[Statement]] = {}
        self.hash_keys = {
            template.physical_name(logical_id): next(
                k["AttributeName"] for k in resource["Properties"]["KeySchema"] if k["KeyType"] == "HASH"
            )
            for logical_id, resource in template.of_type("AWS::DynamoDB::Table").items()
        }

    def refusal(self, function: str, service: str, operation: str, params: dict[str, Any], region: str) -> str | None:
        """Why AWS would refuse this call from ``function``'s role, or None if its policies allow it."""
        if function not in self._statements:
            self._statements[function] = statements(self.template, function)
        granted = self._statements[function]
        for action, resource, context in requests_of(service, operation, params, region, self.hash_keys):
            if not any(statement.allows(action, resource, context) for statement in granted):
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
            code, status = ("AccessDenied", 403) if service == "s3" else ("AccessDeniedException", 400)
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": why},
                    "ResponseMetadata": {
                        "HTTPStatusCode": status,
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
