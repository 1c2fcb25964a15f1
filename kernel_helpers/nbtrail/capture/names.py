"""What a cell reads, binds and changes in place, from its source; and, per statement, from what.

The analysis is syntactic (Python's ``ast``), cheap (tens of microseconds for a typical cell)
and deliberately simple: it answers "which top-level names did this cell read, which did it
bind, which did it change in place", which is what linking a new DataFrame or model to the
data it came from needs. Names bound inside functions, classes and comprehensions are local
to them and are not counted as bindings.

It also answers the same per top-level statement (:class:`Statement`), and for each statement
which earlier binding of each name it read (:attr:`Statement.refs`): a name bound by statement
3 is derived from what statement 3 read, not from everything the cell read. A compound
statement (``for``, ``while``, ``if``, ``with``, ``try``, ``match``) is one statement: what it
binds derives from everything it reads, in any branch or iteration. Calling a function defined
earlier in the cell reads the global names its body reads, as they are at the call. Where
the source cannot say what a cell binds or reads (``exec``, ``eval``, ``globals()``,
``locals()``, ``vars()``, a star import, a ``global`` or ``nonlocal`` declaration, an IPython
magic other than a known harmless one) the whole cell is one statement:
:attr:`CellNames.fallback` says why. Two statements on one line (``a = f(); b = g()``) cannot
be told apart at run time (:meth:`CellNames.statement_at`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

__all__ = ["CellNames", "Statement", "analyze"]

# Methods that change their object in place (pandas, numpy, lists, dicts, sets).
MUTATING_METHODS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "pop",
        "popitem",
        "remove",
        "clear",
        "update",
        "setdefault",
        "add",
        "discard",
        "sort",
        "fill",
        "resize",
        "put",
        "setflags",
        "itemset",
        "set_axis_inplace",
        "__setitem__",
        "__delitem__",
    }
)


@dataclass
class CellNames:
    """Top-level names a cell reads, binds and mutates.

    Attributes
    ----------
    reads : set of str
        Names loaded anywhere in the cell (including inside functions it defines).
    binds : set of str
        Names the cell binds at top level: assignments, augmented assignments, ``for`` and
        ``with`` targets, ``import ... as``, function and class definitions.
    mutates : set of str
        Names whose object the cell changes in place: item or attribute assignment
        (``df["x"] = ...``, ``df.loc[...] = ...``), ``del df["x"]``, a mutating method
        (``.sort()``, ``.update()``), or any method called with ``inplace=True``.
    statements : list of Statement
        The top-level statements in order (one spanning the cell when ``fallback`` is set).
    fallback : str or None
        Why the cell's flow cannot be read statement by statement (``calls exec()``).
    """

    reads: set[str] = field(default_factory=set)
    binds: set[str] = field(default_factory=set)
    mutates: set[str] = field(default_factory=set)
    statements: list[Statement] = field(default_factory=list)
    fallback: str | None = None  # why the cell is one statement, when it is

    def statement_at(self, line: int) -> int | None:
        """Index of the top-level statement that spans ``line`` (1-based), if exactly one does.

        ``a = f(); b = g()`` puts two on one line: which one ran is not known.
        """
        if not isinstance(line, int):
            return None
        found = [i for i, s in enumerate(self.statements) if s.start <= line <= s.end]
        return found[0] if len(found) == 1 else None

    def last_binding(self, name: str) -> int | None:
        """Index of the last statement that binds or changes ``name``, if any."""
        for index in range(len(self.statements) - 1, -1, -1):
            if name in self.statements[index].binds:
                return index
        return None

    def origins(self, name: str) -> set[str]:
        """Names from before the cell that the cell's last binding of ``name`` derives from.

        Follows every binding inside the cell back to what came from outside it; what capture
        records stops earlier, at the first version it tracks (a frame bound in the cell).
        """
        index = self.last_binding(name)
        if index is None:
            return set()
        out: set[str] = set()
        seen: set[int] = set()
        stack = [index]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            for ref_name, where in self.statements[current].refs:
                if where < 0:
                    out.add(ref_name)
                else:
                    stack.append(where)
        return out


@dataclass
class Statement:
    """One top-level statement: its lines, what it binds, and which bindings it read.

    Attributes
    ----------
    start, end : int
        Its first and last line (1-based, in the analysed source).
    binds : set of str
        Names it binds or changes in place (each a new version of the name).
    refs : set of (str, int)
        The names it read, each with the index of the statement whose binding it read
        (-1: the value from before the cell). Includes the globals read by functions defined
        earlier in the cell that it calls, as they are at the call.
    """

    start: int
    end: int
    binds: set[str] = field(default_factory=set)
    refs: set[tuple[str, int]] = field(default_factory=set)


def _base_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class _Visitor(ast.NodeVisitor):
    def __init__(self):
        self.names = CellNames()
        self._depth = 0  # > 0 inside a function, lambda, class or comprehension

    def _bind(self, name: str) -> None:
        if self._depth == 0:
            self.names.binds.add(name)

    def _target(self, target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._target(element)
        elif isinstance(target, ast.Starred):
            self._target(target.value)
        elif isinstance(target, ast.Attribute | ast.Subscript):
            base = _base_name(target)
            if base is not None and self._depth == 0:
                self.names.mutates.add(base)
            self.visit(target)  # the subscript's index is read

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.names.reads.add(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._target(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        base = _base_name(node.target)
        if base is not None:
            self.names.reads.add(base)
        self._target(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._target(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._target(node.target)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self._target(node.target)
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._target(item.optional_vars)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncWith = visit_With

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                continue  # `del x` unbinds; nothing to link
            base = _base_name(target)
            if base is not None and self._depth == 0:
                self.names.mutates.add(base)
            self.visit(target)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._bind(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self._bind(alias.asname or alias.name)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and self._depth == 0:
            base = _base_name(func.value)
            inplace = any(
                kw.arg == "inplace" and isinstance(kw.value, ast.Constant) and kw.value.value
                for kw in node.keywords
            )
            if base is not None and (func.attr in MUTATING_METHODS or inplace):
                self.names.mutates.add(base)
        self.generic_visit(node)

    def _scoped(self, node: ast.AST, name: str | None = None) -> None:
        if name is not None:
            self._bind(name)
        self._depth += 1
        try:
            self.generic_visit(node)
        finally:
            self._depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._scoped(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scoped(node)

    def visit_ListComp(self, node: ast.AST) -> None:
        self._scoped(node)

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp


# Calls that read or bind names the source does not show.
_OPAQUE_CALLS = frozenset({"exec", "eval", "globals", "locals", "vars"})
# IPython magics (as ``get_ipython().run_line_magic(NAME, ...)``) that bind no user names.
_HARMLESS_MAGICS = frozenset(
    {
        "trail",
        "matplotlib",
        "load_ext",
        "reload_ext",
        "unload_ext",
        "config",
        "env",
        "pip",
        "conda",
        "autoreload",
        "aimport",
        "precision",
        "pwd",
        "who",
        "whos",
        "lsmagic",
        "cd",
    }
)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _fallback(tree: ast.Module) -> str | None:
    """Why the cell's data flow cannot be read from its source (None when it can)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Global | ast.Nonlocal):
            return f"declares {type(node).__name__.lower()} names"
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return "a star import"
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in _OPAQUE_CALLS:
            return f"calls {func.id}()"
        if isinstance(func, ast.Attribute) and func.attr in ("run_line_magic", "run_cell_magic"):
            first = node.args[0] if node.args else None
            magic = first.value if isinstance(first, ast.Constant) else None
            if magic not in _HARMLESS_MAGICS:
                return f"the magic %{magic}"
    return None


def _header_reads(node: ast.AST) -> set[str]:
    """Names a ``def`` or ``class`` statement reads when it runs (not its body's)."""
    parts: list[ast.AST] = list(node.decorator_list)
    if isinstance(node, ast.ClassDef):
        parts += node.bases + [k.value for k in node.keywords]
    else:
        parts += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
    visitor = _Visitor()
    for part in parts:
        visitor.visit(part)
    return visitor.names.reads


def _free_reads(node: ast.AST) -> set[str]:
    """Global names a function's or class's body reads (loads minus what it binds itself)."""
    loads, local = set(), set()
    if not isinstance(node, ast.ClassDef):
        arguments = node.args
        for arg in arguments.posonlyargs + arguments.args + arguments.kwonlyargs:
            local.add(arg.arg)
        local.update(a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None)
    for inner in (n for statement in node.body for n in ast.walk(statement)):
        if isinstance(inner, ast.Name):
            (loads if isinstance(inner.ctx, ast.Load) else local).add(inner.id)
        elif isinstance(inner, ast.arg):
            local.add(inner.arg)
        elif isinstance(inner, ast.alias):
            local.add(inner.asname or inner.name.split(".")[0])
        elif isinstance(inner, _DEFINITIONS):
            local.add(inner.name)
    return loads - local


def _statements(tree: ast.Module, names: CellNames) -> list[Statement]:
    if not tree.body:
        return []
    if names.fallback is not None:
        # One statement spanning every line: each binding derives from all the cell read.
        everything = {(name, -1) for name in names.reads}
        return [Statement(1, 1 << 30, names.binds | names.mutates, everything)]
    out: list[Statement] = []
    latest: dict[str, int] = {}  # name -> index of the statement that bound it last
    functions: dict[str, tuple[int, set[str]]] = {}  # name -> (its def statement, body reads)
    for index, node in enumerate(tree.body):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
        if isinstance(node, _DEFINITIONS):
            reads, binds = _header_reads(node), {node.name}
        else:
            visitor = _Visitor()
            visitor.visit(node)
            reads, binds = visitor.names.reads, visitor.names.binds | visitor.names.mutates
        refs: set[tuple[str, int]] = set()
        pending, done = list(reads), set()
        while pending:
            name = pending.pop()
            if name in done:
                continue
            done.add(name)
            where = latest.get(name, -1)
            refs.add((name, where))
            function = functions.get(name)
            if function is not None and function[0] == where:
                pending.extend(function[1])  # calling it reads its globals as they are now
        out.append(Statement(start, node.end_lineno or node.lineno, binds, refs))
        for name in binds:
            latest[name] = index
        if isinstance(node, _DEFINITIONS):
            functions[node.name] = (index, _free_reads(node))
    return out


def analyze(source: str) -> CellNames:
    r"""Return the names a cell of Python source reads, binds and mutates.

    Parameters
    ----------
    source : str
        Python code (IPython syntax already transformed to Python).

    Returns
    -------
    CellNames
        Empty when the source does not parse.

    Examples
    --------
    >>> names = analyze("df = df.dropna()\nX['age'] = X['age'] * 2")
    >>> sorted(names.reads), sorted(names.binds), sorted(names.mutates)
    (['X', 'df'], ['df'], ['X'])
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return CellNames()
    visitor = _Visitor()
    visitor.visit(tree)
    names = visitor.names
    names.fallback = _fallback(tree)
    names.statements = _statements(tree, names)
    return names
