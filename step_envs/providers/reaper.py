"""`python -m step_envs.providers.reaper PARENT_PID SESSION_ID DIR [UID]`: cleans up after a parent that died.

A local session's processes outlive a parent killed with SIGKILL; this watchdog waits for the parent to go,
then ends every process of the session (and, given the session's own ``UID``, every process of that user) and
removes its directory. It holds the session user's lock file (inherited), so the user is free only once it is done.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

from step_envs.providers.procs import kill_session, kill_user


def main() -> None:
    parent, session_id, directory = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    while os.getppid() == parent:
        time.sleep(0.5)
    kill_session(session_id)
    if len(sys.argv) > 4:
        kill_user(int(sys.argv[4]))
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
