"""Group a converted model's per-column inputs into one string and one number tensor.

skl2onnx gives every DataFrame column its own input and every string column its own
OneHotEncoder node. On one row, each input costs onnxruntime about 0.5 us to bind and each node
about 0.5 us to run, more than the model: the Adult logistic regression spent 17 us in a
14-input, 14-node graph and 4 us in the bare classifier. This rewrite feeds ``strings``
``[N, k]`` and ``numbers`` ``[N, m]`` instead (their columns listed in the metadata
``nbtrail.inputs`` and in each input's doc string) and fuses the encoders:

* a Concat of OneHotEncoders (``zeros=1``, string categories) over grouped columns becomes one
  OneHotEncoder over the union of their categories (``[N, k, U]``), a Reshape to ``[N, k*U]``
  and a Gather of each column's own categories in order. A value unseen for its column but
  known for another lands outside the gathered positions, so it stays all zeros, as before;
* a Concat of number inputs reads the ``numbers`` tensor directly (or a Gather of its columns);
* any other use of a column's input reads a one-column Gather of its group.

Outputs are unchanged; the conversion's parity tests run on the rewritten graph.
"""

from __future__ import annotations

import json

from ..checks import META_INPUTS

__all__ = ["group_inputs"]

GROUPS = {"string": "strings", "number": "numbers"}


def group_inputs(proto, kinds: dict) -> None:
    """Rewrite ``proto`` in place so that columns of each kind share one input tensor."""
    from onnx import TensorProto, helper

    graph = proto.graph
    elem = {"string": TensorProto.STRING, "number": TensorProto.FLOAT}
    by_name = {i.name: i for i in graph.input}
    groups: dict[str, list[str]] = {}
    for column, kind in kinds.items():
        if column in by_name:
            groups.setdefault(GROUPS[kind], []).append(column)
    where = {c: (g, j) for g, cols in groups.items() for j, c in enumerate(cols)}
    new_nodes, consts = [], []

    def const(name, values):
        consts.append(helper.make_tensor(name, TensorProto.INT64, [len(values)], values))
        return name

    def gather(group, positions, output):
        idx = const(f"{output}__columns", positions)
        return helper.make_node("Gather", [group, idx], [output], axis=1)

    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced = set()  # ids of nodes that fused rewrites take the place of
    rename = {}  # tensor name -> tensor that now holds the same values
    for node in graph.node:
        if node.op_type != "Concat":
            continue
        strings = _encoders_over(node, consumers, where, graph)
        if strings is not None:
            encoders, columns = strings
            new_nodes += _fused_encoders(node, encoders, columns, where, const, helper)
            replaced |= {id(n) for n in encoders} | {id(node)}
            continue
        if all(where.get(n, ("",))[0] == "numbers" and len(consumers[n]) == 1 for n in node.input):
            positions = [where[n][1] for n in node.input]
            if positions == list(range(len(groups["numbers"]))):
                rename[node.output[0]] = "numbers"
            else:
                new_nodes.append(gather("numbers", positions, node.output[0]))
            replaced.add(id(node))
    kept = [n for n in graph.node if id(n) not in replaced]
    for n in kept:
        for k, name in enumerate(n.input):
            if name in rename:
                n.input[k] = rename[name]
    used = {name for n in kept + new_nodes for name in n.input}
    outputs = {o.name for o in graph.output}
    for name in list(rename):
        if name in outputs:  # a graph output must still be produced by a node
            new_nodes.append(helper.make_node("Identity", [rename.pop(name)], [name]))
    for column, (group, j) in where.items():
        if column in used:  # a use the fusions did not take over: one column of its group
            new_nodes.append(gather(group, [j], column))
    nodes = new_nodes + kept  # fused nodes read only graph inputs: they may come first
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(consts)
    del graph.value_info[:]  # intermediate shapes of removed tensors
    others = [i for i in graph.input if i.name not in where]
    del graph.input[:]
    for group, cols in groups.items():
        kind = "string" if group == "strings" else "number"
        value = helper.make_tensor_value_info(group, elem[kind], [None, len(cols)])
        value.doc_string = "columns: " + ", ".join(cols)
        graph.input.append(value)
    graph.input.extend(others)
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_INPUTS, json.dumps(groups)


def _encoders_over(node, consumers, where, graph):
    """The OneHotEncoders a Concat joins and their columns, when all can be fused; else None."""
    users = consumers.get(node.output[0], [])
    if not users or any(n.op_type != "Reshape" for n in users):
        return None  # skl2onnx reshapes the joined [N, 1, C] codes; anything else: leave it
    by_output = {out: n for n in graph.node for out in n.output}
    encoders, columns = [], []
    for name in node.input:
        enc = by_output.get(name)
        if enc is None or enc.op_type != "OneHotEncoder" or len(consumers.get(name, [])) != 1:
            return None
        source = enc.input[0]
        if where.get(source, ("",))[0] != "strings" or len(consumers[source]) != 1:
            return None
        attrs = {a.name: a for a in enc.attribute}
        if "cats_strings" not in attrs or attrs.get("zeros") is None or attrs["zeros"].i != 1:
            return None
        encoders.append(enc)
        columns.append(source)
    return (encoders, columns) if encoders else None


def _fused_encoders(concat, encoders, columns, where, const, helper) -> list:
    """One OneHotEncoder over the union of categories, reshaped, gathered per column."""
    out = concat.output[0]
    cats = [[c.decode() for c in _attr(e, "cats_strings").strings] for e in encoders]
    union = list(dict.fromkeys(c for col in cats for c in col))
    at = {c: i for i, c in enumerate(union)}
    positions = [where[c][1] for c in columns]
    nodes = []
    source = "strings"
    if positions != list(range(sum(g == "strings" for g, _ in where.values()))):
        source = f"{out}__strings"
        nodes.append(
            helper.make_node(
                "Gather", ["strings", const(f"{source}__columns", positions)], [source], axis=1
            )
        )
    picks = [k * len(union) + at[c] for k, col in enumerate(cats) for c in col]
    shape = const(f"{out}__shape", [-1, len(columns) * len(union)])
    nodes += [
        helper.make_node(
            "OneHotEncoder",
            [source],
            [f"{out}__onehot"],
            domain="ai.onnx.ml",
            cats_strings=union,
            zeros=1,
        ),
        helper.make_node("Reshape", [f"{out}__onehot", shape], [f"{out}__flat"]),
        helper.make_node("Gather", [f"{out}__flat", const(f"{out}__picks", picks)], [out], axis=1),
    ]
    return nodes


def _attr(node, name):
    return next(a for a in node.attribute if a.name == name)
