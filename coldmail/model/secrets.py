"""What counts as a secret by its name, wherever a value's name is all there is to judge by."""

from __future__ import annotations

import re

#: A key naming a credential: masked in output, refused in clear by the policy pack.
SECRET_NAME = re.compile(r"api[_-]?key|password|passwd|token|secret|private[_-]?key", re.IGNORECASE)


def is_secret_name(key: object) -> bool:
    return bool(SECRET_NAME.search(str(key)))
