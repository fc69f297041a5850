"""A local Iterable-compatible server for trying mappings and for tests.

It answers Iterable's list and user endpoints with Iterable's shapes and rules (auth, list
types, email and field-type checks, partial failures, rate limits), keeps its project in
SQLite under a data directory, and can inject faults. Start one with `start_sandbox(dir)`;
see docs/SANDBOX.md for the endpoints and the remaining differences from Iterable.

Nothing in `mapping` imports this package except `mapping.cli`, lazily, to run
`python -m mapping sandbox`: the workbench talks to the sandbox over HTTP like to Iterable.
"""

from mapping.iterable.sandbox.faults import Faults
from mapping.iterable.sandbox.server import SandboxError, SandboxServer, start_sandbox
from mapping.iterable.sandbox.store import KEY_TYPES, SANDBOX_API_KEY, SEED_FIELDS, SEED_LISTS

__all__ = [
    "KEY_TYPES",
    "SANDBOX_API_KEY",
    "SEED_FIELDS",
    "SEED_LISTS",
    "Faults",
    "SandboxError",
    "SandboxServer",
    "start_sandbox",
]
