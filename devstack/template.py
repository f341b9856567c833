"""Reads template.yaml, the single source of truth for what the local stack provisions and serves.

Intrinsic functions are resolved with local values: a resource's physical name is its logical id,
parameters take their defaults, pseudo parameters take moto's account and region.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"


class _TemplateLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (``!Ref``, ``!GetAtt``…) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


DEFAULT_ROUTE = "$default"


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str
    function_id: str
    public: bool


@dataclass(frozen=True)
class EventSource:
    kind: str  # "DynamoDB" or "SQS"
    function_id: str
    source: str  # logical id of the table or queue
    batch_size: int
    report_batch_item_failures: bool
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    module: str
    attribute: str
    environment: dict[str, str]
    timeout: int
    memory: int


class Template:
    def __init__(self, path: Path, *, region: str = "us-east-1", parameters: dict[str, str] | None = None) -> None:
        self.path = path
        self.root = path.parent
        self.region = region
        self.body: dict[str, Any] = yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
        self.parameters = {
            name: str(spec.get("Default", "")) for name, spec in (self.body.get("Parameters") or {}).items()
        } | (parameters or {})
        self.resources: dict[str, dict[str, Any]] = self.body.get("Resources") or {}

    # --- resources by type -------------------------------------------------------------------
    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res.get("Type") == resource_type}

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources[logical_id].get("Properties") or {})

    # --- intrinsic functions -------------------------------------------------------------------
    def physical_name(self, logical_id: str) -> str:
        props = self.properties(logical_id)
        for key in ("TableName", "QueueName", "Name", "FunctionName", "BucketName"):
            if key in props:
                return str(self.resolve(props[key]))
        if self.resources[logical_id].get("Type") == "AWS::S3::Bucket":
            return logical_id.lower()  # bucket names are lowercase (CloudFormation makes one up)
        return logical_id

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        prefix = f"arn:aws:{{}}:{self.region}:{ACCOUNT_ID}"
        match kind:
            case "AWS::DynamoDB::Table":
                return prefix.format("dynamodb") + f":table/{name}"
            case "AWS::SQS::Queue":
                return prefix.format("sqs") + f":{name}"
            case "AWS::Events::EventBus":
                return prefix.format("events") + f":event-bus/{name}"
            case "AWS::Serverless::Function":
                return prefix.format("lambda") + f":function:{name}"
            case "AWS::S3::Bucket":
                return f"arn:aws:s3:::{name}"
            case _:
                return prefix.format("local") + f":{logical_id}"

    def queue_url(self, logical_id: str, endpoint: str | None) -> str:
        base = endpoint or f"https://sqs.{self.region}.amazonaws.com"
        return f"{base}/{ACCOUNT_ID}/{self.physical_name(logical_id)}"

    def resolve(self, value: Any, endpoint: str | None = "http://localhost") -> Any:
        """``value`` with every intrinsic function replaced by its local value."""
        if isinstance(value, list):
            return [self.resolve(item, endpoint) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(item, endpoint) for key, item in value.items()}
        ((key, arg),) = value.items()
        match key:
            case "Ref":
                return self._ref(str(arg), endpoint)
            case "Fn::GetAtt":
                return self._get_att(str(arg[0]), str(arg[1]), endpoint)
            case "Fn::Sub":
                template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def substitute(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in variables:
                        return str(self.resolve(variables[name], endpoint))
                    if "." in name:
                        logical_id, attribute = name.split(".", 1)
                        return str(self._get_att(logical_id, attribute, endpoint))
                    return str(self._ref(name, endpoint))

                return re.sub(r"\$\{([^}!]+)\}", substitute, template)
            case "Fn::Join":
                return str(arg[0]).join(str(self.resolve(item, endpoint)) for item in arg[1])
            case "Fn::If":
                chosen = arg[1] if self.condition(str(arg[0])) else arg[2]
                return self.resolve(chosen, endpoint)
            case "Fn::Equals":
                return self.resolve(arg[0], endpoint) == self.resolve(arg[1], endpoint)
            case "Fn::Not":
                return not self.resolve(arg[0], endpoint)
            case "Fn::And":
                return all(self.resolve(item, endpoint) for item in arg)
            case "Fn::Or":
                return any(self.resolve(item, endpoint) for item in arg)
            case "Condition":
                return self.condition(str(arg))
            case _:
                return {key: self.resolve(arg, endpoint)}

    def condition(self, name: str) -> bool:
        return bool(self.resolve((self.body.get("Conditions") or {})[name]))

    def _ref(self, name: str, endpoint: str | None) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "payments-local",
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if self.resources.get(name, {}).get("Type") == "AWS::SQS::Queue":
            return self.queue_url(name, endpoint)
        return self.physical_name(name)

    def _get_att(self, logical_id: str, attribute: str, endpoint: str | None) -> Any:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("QueueName", "Name"):
            return self.physical_name(logical_id)
        if attribute == "QueueUrl":
            return self.queue_url(logical_id, endpoint)
        if attribute == "StreamArn":
            return self.arn(logical_id) + "/stream/local"
        return f"{logical_id}.{attribute}"

    # --- functions and their events ------------------------------------------------------------
    def _function_globals(self) -> dict[str, Any]:
        return dict((self.body.get("Globals") or {}).get("Function") or {})

    def functions(self, endpoint: str = "http://localhost") -> dict[str, FunctionSpec]:
        defaults = self._function_globals()
        specs = {}
        for logical_id in self.of_type("AWS::Serverless::Function"):
            props = self.properties(logical_id)
            env: dict[str, Any] = {}
            for source in (defaults, props):
                env |= ((source.get("Environment") or {}).get("Variables")) or {}
            module, attribute = str(props["Handler"]).rsplit(".", 1)
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_dir=(self.root / str(props.get("CodeUri", defaults.get("CodeUri", ".")))).resolve(),
                module=module,
                attribute=attribute,
                environment={
                    key: str(resolved)
                    for key, value in env.items()
                    if (resolved := self.resolve(value, endpoint)) is not None
                },
                timeout=int(props.get("Timeout", defaults.get("Timeout", 3))),
                memory=int(props.get("MemorySize", defaults.get("MemorySize", 128))),
            )
        return specs

    def layer_dirs(self) -> list[Path]:
        return [
            (self.root / str(self.properties(logical_id)["ContentUri"])).resolve()
            for logical_id in self.of_type("AWS::Serverless::LayerVersion")
        ]

    def put_layers_on_path(self) -> None:
        """Makes the layers' code importable here, as Lambda does by mounting them at /opt/python."""
        for layer in self.layer_dirs():
            if str(layer) not in sys.path:
                sys.path.append(str(layer))

    def _events(self, event_type: str) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for logical_id in self.of_type("AWS::Serverless::Function"):
            for event in (self.properties(logical_id).get("Events") or {}).values():
                if event.get("Type") == event_type:
                    found.append((logical_id, dict(event.get("Properties") or {})))
        return found

    def schedules(self) -> list[tuple[str, str]]:
        """(function logical id, schedule expression) of every ``Schedule``/``ScheduleV2`` event."""
        found = []
        for kind, key in (("Schedule", "Schedule"), ("ScheduleV2", "ScheduleExpression")):
            for function_id, props in self._events(kind):
                found.append((function_id, str(self.resolve(props[key]))))
        return found

    def http_routes(self) -> list[HttpRoute]:
        """The API's routes, without ``$default`` (the one for requests no route matches)."""
        return [route for route in self._all_http_routes() if route.path != DEFAULT_ROUTE]

    def default_route(self) -> HttpRoute | None:
        """The ``$default`` route: where API Gateway sends a request that matches no other route."""
        return next((route for route in self._all_http_routes() if route.path == DEFAULT_ROUTE), None)

    def _all_http_routes(self) -> list[HttpRoute]:
        routes = []
        for function_id, props in self._events("HttpApi"):
            auth = props.get("Auth") or {}
            routes.append(
                HttpRoute(
                    method=str(props.get("Method", "ANY")).upper(),
                    path=str(props.get("Path", "/")),
                    function_id=function_id,
                    public=auth.get("Authorizer") == "NONE",
                )
            )
        return routes

    def authorizer_function(self) -> str | None:
        for api in self.of_type("AWS::Serverless::HttpApi").values():
            auth = (api.get("Properties") or {}).get("Auth") or {}
            default = auth.get("DefaultAuthorizer")
            if default:
                arn = auth["Authorizers"][default]["FunctionArn"]
                # !GetAtt Fn.Arn, or !Ref Fn.Alias (AutoPublishAlias: the alias SnapStart serves)
                return str(arn["Fn::GetAtt"][0] if "Fn::GetAtt" in arn else arn["Ref"].split(".")[0])
        return None

    def event_sources(self) -> list[EventSource]:
        sources = []
        for kind in ("DynamoDB", "SQS"):
            for function_id, props in self._events(kind):
                key = "Stream" if kind == "DynamoDB" else "Queue"
                ref = props[key]
                source = ref["Fn::GetAtt"][0] if "Fn::GetAtt" in ref else ref["Ref"]
                sources.append(
                    EventSource(
                        kind=kind,
                        function_id=function_id,
                        source=str(source),
                        batch_size=int(props.get("BatchSize", 100 if kind == "DynamoDB" else 10)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                        properties=props,
                    )
                )
        return sources

    def event_pattern(self, rule_id: str) -> str:
        return json.dumps(self.resolve(self.properties(rule_id)["EventPattern"]))
