"""Map website widget submissions onto Iterable user fields and sync them.

The few names an analyst needs in a notebook::

    import mapping
    subs = mapping.load("submissions.csv")              # DataFrame of raw strings + report
    config = mapping.load_mapping("mapping.json")       # MappingConfig
    result = mapping.apply(subs.frame, config)          # payload items + per-row issues
    mapping.preview(result)                             # the payload as a DataFrame
    mapping.issues(result)                              # row issues as a DataFrame
    for batch in mapping.batches(result, config): ...   # request bodies, bounded in size
    summary = mapping.run_sync("submissions.csv", config, api_key=..., base_url=...)

Everything else is importable from the submodules but is internal. The names are resolved on
first use, so `import mapping` stays cheap for the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    "load": ("mapping.submissions", "load"),
    "load_mapping": ("mapping.config", "load_mapping"),
    "MappingConfig": ("mapping.config", "MappingConfig"),
    "apply": ("mapping.transform", "apply"),
    "preview": ("mapping.transform", "preview_frame"),
    "issues": ("mapping.transform", "issues_frame"),
    "batches": ("mapping.payload", "batches_for"),
    # Not "sync": importing the subpackage mapping.sync would shadow a function of that name.
    "run_sync": ("mapping.sync", "sync"),
    "IterableClient": ("mapping.iterable", "IterableClient"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'mapping' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
