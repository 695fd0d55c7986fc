"""``python -m step_envs.cli``: the `step-envs` command."""

import sys

from step_envs.cli.main import main

sys.exit(main())
