# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a model file may contain: the pickle imports proven harmless, the ones that run code, and the
format policy (which serialization formats production accepts).

The pickle policy fails closed: an import is harmless only when it is on an allowlist (fickling's ML
allowlist, which covers what torch.save and numpy write, plus a few plain containers); an import of a module
that executes code is CRITICAL; anything else is HIGH, because nothing proves it safe. A blocklist alone
(picklescan's model) has a history of bypasses through modules it did not list.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from _compat_pickle import IMPORT_MAPPING

from ansible_collections.ainative.security.plugins.module_utils.core.errors import PolicyError

try:
    from fickling.analysis import UnsafeImportsML
    from fickling.fickle import UNSAFE_IMPORTS
    from fickling.ml import ML_ALLOWLIST
    FICKLING_IMPORT_ERROR = None
except ImportError as exc:
    UNSAFE_IMPORTS = frozenset()
    ML_ALLOWLIST = {}
    UnsafeImportsML = None
    FICKLING_IMPORT_ERROR = exc

# Serialization formats a model file can be in; the format policy names these.
MODEL_FORMATS = ("safetensors", "gguf", "onnx", "pickle", "pytorch", "keras", "hdf5", "numpy", "savedmodel", "zip")
# Formats that can run code when loaded (pickle, Keras Lambda bytecode, TensorFlow file ops).
CODE_FORMATS = ("pickle", "pytorch", "keras", "hdf5", "numpy", "savedmodel", "zip")

# Plain containers pickle writes for ordinary data (sets, bytes in protocol 2, plain objects' rebuild).
STDLIB_ALLOWLIST = {
    "builtins": ("set", "frozenset", "complex", "slice", "bytearray", "range"),
    "__builtin__": ("set", "frozenset", "complex", "slice", "bytearray"),
    "copy_reg": ("_reconstructor",),
    "copyreg": ("_reconstructor",),
    "_codecs": ("encode",),
    "collections": ("OrderedDict", "defaultdict", "deque", "Counter"),
    "datetime": ("datetime", "date", "time", "timedelta", "timezone"),
    "decimal": ("Decimal",),
}

# Modules whose name a pickle stores differently from how users know them: the OS module behind os, and the
# Python 2 names that protocol 0-2 pickles use and unpickling maps back (``fix_imports``).
MODULE_ALIASES = dict(IMPORT_MAPPING, posix="os", nt="os", _posixsubprocess="subprocess")

UNSAFE_ID = "model-unsafe-pickle-import"
UNVERIFIED_ID = "model-unverified-pickle-import"


def allowed_import(module, name):
    names = ML_ALLOWLIST.get(module)
    if names and name in names:
        return True
    return name in STDLIB_ALLOWLIST.get(module, ())


def unsafe_module(module, name):
    """True for an import that runs code or touches the system (fickling's list, any parent module)."""
    parts = module.split(".")
    if any(part in UNSAFE_IMPORTS for part in parts) or name in ("eval", "exec", "compile", "__import__"):
        return True
    ml_unsafe = getattr(UnsafeImportsML, "UNSAFE_IMPORTS", {}) if UnsafeImportsML else {}
    listed = ml_unsafe.get(module)
    return bool(listed) and (listed == "*" or name in listed)


def classify_import(module, name):
    """``None`` for an allowed import, else ``(finding id, severity, category, aliases)``.

    The id is the import as users know it (``os.system`` for pickle's ``posix.system``), so a waiver or
    ``fail_on_ids`` names what the file does; the category is an alias for "every import of this kind".
    """
    if allowed_import(module, name):
        return None
    head, dot, rest = module.partition(".")
    known = MODULE_ALIASES.get(head, head) + dot + rest
    dotted = "%s.%s" % (known, name)
    aliases = ["%s.%s" % (module, name)] if known != module else []
    if unsafe_module(module, name):
        return dotted, "CRITICAL", UNSAFE_ID, aliases + [UNSAFE_ID]
    return dotted, "HIGH", UNVERIFIED_ID, aliases + [UNVERIFIED_ID]


def check_allowed_formats(formats):
    """The format policy as given, in lower case; an unknown name is an error the user must fix."""
    chosen = [str(fmt).strip().lower() for fmt in formats or ()]
    unknown = sorted(set(chosen) - set(MODEL_FORMATS))
    if unknown:
        raise PolicyError("allowed_formats has unknown format(s) %s; use %s" % (", ".join(unknown), ", ".join(MODEL_FORMATS)))
    return chosen
