"""Pipeline specs: steps, each a template with parameters, in dependency order.

::

    name: adult-income
    steps:
      - name: prepare_data
        template: prepare_data.ipynb          # relative to this file
        parameters:
          test_size: 0.25
      - name: train
        template: train.ipynb
        parameters:
          train: ${prepare_data.outputs.train}  # what prepare_data declared with nbtrail.output
          model: forest

A parameter whose whole value is ``${STEP.outputs.NAME}`` receives that output's value as it is
(a number stays a number); inside a longer string it is substituted as text. A step depends on
the steps it refers to, and on those listed in ``needs``. ``inputs`` declares files (paths or
globs, relative to the spec) the step depends on whatever capture sees, as DVC declares deps:
they are always fingerprinted, and a step is reused only while they are unchanged. Everything
is checked when the spec is loaded, before any step runs: unknown keys, unknown or repeated
steps, missing templates, parameters a template does not declare, cycles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..safe_yaml import load_yaml_file
from .parameters import ParameterSpec, check_plain, read_schema, validate

__all__ = ["PipelineSpec", "StepSpec", "load_spec", "resolve_parameters"]

_REF = re.compile(r"\$\{\s*([A-Za-z_][\w-]*)\.outputs\.([A-Za-z_]\w*)\s*\}")
_STEP_KEYS = {"name", "template", "parameters", "needs", "timeout", "inputs", "retries"}
_SPEC_KEYS = {"name", "steps"}


@dataclass
class StepSpec:
    """One step: a template, its parameters, the steps it needs."""

    name: str
    template: Path
    parameters: dict = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    timeout: float | None = None
    schema: dict[str, ParameterSpec] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()  # paths or globs, relative to the spec's folder
    folder: Path = field(default_factory=Path)
    retries: int = 0  # times the step is submitted again after its worker died

    def input_files(self) -> list[Path]:
        """The files the declared ``inputs`` match now, sorted (each pattern must match one).

        Raises
        ------
        UsageError
            When a pattern matches no file.
        """
        found: dict[Path, None] = {}
        for pattern in self.inputs:
            base = Path(pattern).expanduser()
            if base.is_absolute():
                matches = sorted(Path(base.anchor).glob(str(base.relative_to(base.anchor))))
            else:
                matches = sorted(self.folder.glob(pattern))
            matches = [m.resolve() for m in matches if m.is_file()]
            if not matches:
                raise UsageError(f"step {self.name!r}: declared input {pattern!r} matches no file")
            found.update(dict.fromkeys(matches))
        return sorted(found)


@dataclass
class PipelineSpec:
    """A loaded, checked pipeline spec; ``steps`` are in an order that respects dependencies."""

    name: str
    path: Path
    steps: list[StepSpec]

    def step(self, name: str) -> StepSpec:
        """Return the step called ``name``."""
        for step in self.steps:
            if step.name == name:
                return step
        names = self.names
        listed = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise UsageError(f"{self.path}: no step named {name!r}; steps: {listed}")

    @property
    def names(self) -> list[str]:
        """Step names in execution order."""
        return [s.name for s in self.steps]

    def downstream(self, name: str) -> set[str]:
        """``name`` and every step that depends on it, directly or not."""
        found = {name}
        for step in self.steps:  # topological order: one pass suffices
            if found & set(step.needs):
                found.add(step.name)
        return found

    def to_dict(self) -> dict:
        """Return JSON-ready data (what the pipeline run records as its parameters)."""
        return {
            "name": self.name,
            "steps": [
                {
                    "name": s.name,
                    "template": str(s.template),
                    "parameters": s.parameters,
                    "needs": list(s.needs),
                    "inputs": list(s.inputs),
                    "retries": s.retries,
                }
                for s in self.steps
            ],
        }


def _references(value) -> set[str]:
    if isinstance(value, str):
        return {m.group(1) for m in _REF.finditer(value)}
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    return set()


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and check a pipeline spec (YAML).

    Raises
    ------
    UsageError
        Naming the file, the step and the key or parameter that is wrong.
    """
    path = Path(path).expanduser().resolve()
    data = load_yaml_file(path, what="pipeline spec")
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a pipeline spec is a mapping with 'steps'")
    unknown = set(data) - _SPEC_KEYS
    if unknown:
        raise UsageError(f"{path}: unknown key {sorted(unknown)[0]!r}; allowed: name, steps")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise UsageError(f"{path}: 'steps' must be a non-empty list")
    steps: dict[str, StepSpec] = {}
    schemas: dict[Path, dict[str, ParameterSpec]] = {}  # a template read once, however used
    for index, raw in enumerate(raw_steps):
        step = _load_step(path, index, raw, steps, schemas)
        steps[step.name] = step
    for step in steps.values():
        for need in step.needs:
            if need not in steps:
                raise UsageError(f"{path}: step {step.name!r} refers to unknown step {need!r}")
    ordered = _order(path, steps)
    return PipelineSpec(name=str(data.get("name") or path.stem), path=path, steps=ordered)


def _load_step(path: Path, index: int, raw, seen: dict, schemas: dict) -> StepSpec:
    where = f"{path}: step {index + 1}"
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be a mapping with 'name' and 'template'")
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise UsageError(
            f"{where}: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(_STEP_KEYS))}"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][\w-]*", name):
        raise UsageError(f"{where}: 'name' must be an identifier, got {name!r}")
    if name in seen:
        raise UsageError(f"{path}: two steps are named {name!r}")
    where = f"{path}: step {name!r}"
    template = raw.get("template")
    if not isinstance(template, str):
        raise UsageError(f"{where}: 'template' must be a notebook path")
    template_path = (path.parent / template).resolve()
    if not template_path.is_file():
        raise UsageError(f"{where}: template {template_path} does not exist")
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise UsageError(f"{where}: 'parameters' must be a mapping")
    if template_path not in schemas:
        schemas[template_path] = read_schema(template_path)
    schema = schemas[template_path]
    for key in parameters:
        if key not in schema:
            known = ", ".join(schema) or "none"
            raise UsageError(
                f"{where}: unknown parameter {key!r} for {template_path.name}; it declares: {known}"
            )
    _check_values(where, parameters, schema)
    needs = raw.get("needs") or []
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise UsageError(f"{where}: 'needs' must be a list of step names")
    refs = _references(parameters)
    if name in refs:
        raise UsageError(f"{where} refers to its own outputs")
    timeout = raw.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise UsageError(f"{where}: 'timeout' must be a positive number of seconds")
    inputs = raw.get("inputs") or []
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(i, str) and i for i in inputs):
        raise UsageError(f"{where}: 'inputs' must be a list of paths or glob patterns")
    retries = raw.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise UsageError(
            f"{where}: 'retries' must be a non-negative integer (times the step is run again "
            f"after its worker died), got {retries!r}"
        )
    return StepSpec(
        name=name,
        template=template_path,
        parameters=parameters,
        needs=tuple(dict.fromkeys([*needs, *sorted(refs)])),
        timeout=timeout,
        schema=schema,
        inputs=tuple(inputs),
        folder=path.parent,
        retries=retries,
    )


def _check_values(where: str, parameters: dict, schema: dict) -> None:
    """Refuse, before anything runs, values the template cannot take.

    A value without references is checked against the template's schema now, as a template
    run would check it; one that refers to another step's outputs is known only when that
    step has run, so here it must only be plain data (what papermill can inject).
    """
    fixed = {}
    for key, value in parameters.items():
        if _references(value):
            check_plain(key, value, where=f"{where}: ")
        else:
            fixed[key] = value
    validate(schema, fixed, template=where)


def _order(path: Path, steps: dict[str, StepSpec]) -> list[StepSpec]:
    """Steps in dependency order; unrelated steps keep the order they are listed in.

    Depth-first with an explicit stack, not recursion: a chain of thousands of steps listed
    consumer-first is ordered as easily as a short one.
    """
    ordered: list[StepSpec] = []
    done: set[str] = set()
    for root in steps:
        if root in done:
            continue
        # Each frame: a step and the index of the next need to visit. The stack is the chain.
        stack: list[list] = [[root, 0]]
        on_stack = {root}
        while stack:
            frame = stack[-1]
            name, index = frame
            needs = steps[name].needs
            if index < len(needs):
                frame[1] += 1
                need = needs[index]
                if need in done:
                    continue
                if need in on_stack:
                    chain = [f[0] for f in stack]
                    cycle = [*chain[chain.index(need) :], need]
                    if len(cycle) > 11:
                        cycle = [*cycle[:5], f"... {len(cycle) - 10} more ...", *cycle[-5:]]
                    raise UsageError(
                        f"{path}: steps depend on each other in a cycle: {' -> '.join(cycle)}"
                    )
                stack.append([need, 0])
                on_stack.add(need)
                continue
            stack.pop()
            on_stack.discard(name)
            done.add(name)
            ordered.append(steps[name])
    return ordered


def resolve_parameters(step: StepSpec, outputs: dict[str, dict]) -> dict:
    """Replace ``${STEP.outputs.NAME}`` references with the outputs of finished steps.

    Raises
    ------
    UsageError
        When a referred step did not declare that output.
    """

    def lookup(match) -> object:
        source, key = match.group(1), match.group(2)
        declared = outputs.get(source, {})
        if key not in declared:
            have = ", ".join(sorted(declared)) or "none"
            raise UsageError(
                f"step {step.name!r} needs output {key!r} of step {source!r}, which declared: "
                f"{have} (declare it with nbtrail.output({key!r}, value))"
            )
        return declared[key]

    def resolve(value):
        if isinstance(value, str):
            whole = _REF.fullmatch(value.strip())
            if whole:
                return lookup(whole)
            return _REF.sub(lambda m: str(lookup(m)), value)
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return {key: resolve(value) for key, value in step.parameters.items()}
