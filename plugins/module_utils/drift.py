# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers shared by our modules: normalise desired/current state, decide and show drift.

AWS answers with defaults filled in, lists in its own order, integers as floats and empty
containers where nothing was set; comparing raw shapes is what makes modules report a change on
every run. Everything here is free of boto3 so it can be unit-tested on its own.
"""

import json


def normalise(value):
    """Return `value` with dict keys sorted, None/empty members dropped, whole floats as ints."""
    if isinstance(value, dict):
        cleaned = {}
        for key in sorted(value):
            item = normalise(value[key])
            if item is None or item == {} or item == []:
                continue
            cleaned[key] = item
        return cleaned
    if isinstance(value, (list, tuple)):
        return [normalise(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalise_json(text):
    """Parse a JSON document (str or already parsed) into its normalised form."""
    if isinstance(text, (str, bytes)):
        text = json.loads(text)
    return normalise(text)


def project(current, keys):
    """Keep only `keys` of `current` (the part of AWS's answer a module manages)."""
    return {key: current[key] for key in keys if key in (current or {})}


def has_drift(desired, current):
    return normalise(desired) != normalise(current)


def make_diff(before, after):
    """Ansible's diff structure over the normalised forms (stable key order, readable)."""
    return {"before": normalise(before) if before is not None else {}, "after": normalise(after) if after is not None else {}}
