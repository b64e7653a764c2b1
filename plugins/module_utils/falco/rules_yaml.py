# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML loading of Falco rules files with the line of every top-level object and key."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    yaml = None
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc


class RulesDoc(object):
    """One YAML document with a line number for every top-level object and key."""

    def __init__(self, name, items):
        self.name = name
        self.items = items  # list of (line, mapping or other, {key: line}, condition offsets)


def loader_class():
    """SafeLoader that reads a bare ``=`` (as in ``comps: [=, in]``) as the string yaml-cpp sees."""
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: about 10x faster

    class FalcoRulesLoader(base):  # pylint: disable=too-many-ancestors
        pass

    FalcoRulesLoader.add_constructor("tag:yaml.org,2002:value", FalcoRulesLoader.construct_yaml_str)
    return FalcoRulesLoader


def load_with_lines(name, text, problems):
    """Compose ``text`` and build [(line, value, key_lines)]; parse errors become problems."""
    loader = loader_class()(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            column = mark.column + 1 if mark else None
            where = " at column %s" % column if column else ""
            problems.append(make_problem(name, line, None, "yaml_parse", "YAML syntax error%s: %s" % (
                where, " ".join(str(exc.problem or exc).split()))))
            return None
        except yaml.YAMLError as exc:
            problems.append(make_problem(name, None, None, "yaml_parse", "YAML error: %s" % exc))
            return None
        if node is None:
            return RulesDoc(name, [])
        if not isinstance(node, yaml.SequenceNode):
            problems.append(make_problem(name, node.start_mark.line + 1, None, "not_a_list",
                                         "the top level of a rules file must be a list of rule, macro and list "
                                         "objects (a YAML sequence), not a %s" % _node_kind(node)))
            return None
        items = []
        for child in node.value:
            line = child.start_mark.line + 1
            try:
                value = loader.construct_object(child, deep=True)
            except yaml.YAMLError as exc:
                problems.append(make_problem(name, line, None, "yaml_parse", "YAML error: %s" % exc))
                continue
            key_lines = {}
            duplicates = []
            if isinstance(child, yaml.MappingNode):
                for key_node, _value_node in child.value:
                    key = getattr(key_node, "value", None)
                    if key in key_lines:
                        duplicates.append((key, key_node.start_mark.line + 1))
                    key_lines[key] = key_node.start_mark.line + 1
            items.append((line, value, key_lines, duplicates))
        return RulesDoc(name, items)
    finally:
        loader.dispose()


def _node_kind(node):
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.ScalarNode):
        return "scalar"
    return "node"


def make_problem(name, line, obj, code, message):
    return {"file": name, "line": line, "object": obj, "code": code, "message": message}
