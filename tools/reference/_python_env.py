"""Re-run the current script under Debian's /usr/bin/python3 if this interpreter has no torch.

`python3` may resolve to another interpreter (e.g. pyenv) that does not see Debian's
python3-torch / python3-numpy packages; those live in /usr/bin/python3's dist-packages.
"""

import os
import sys

SYSTEM_PYTHON = "/usr/bin/python3"


def ensure_torch():
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    if (os.path.exists(SYSTEM_PYTHON) and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)
            and not os.environ.get("PANGU_REF_REEXEC")):
        os.environ["PANGU_REF_REEXEC"] = "1"
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    sys.exit("PyTorch/numpy not found: apt-get install python3-torch python3-numpy (then use /usr/bin/python3)")
