"""The local stack: template.yaml run on moto and localstripe, handlers invoked in-process, no Docker."""
