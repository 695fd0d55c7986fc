# The session's shell. Every local session runs as a user of its own (step-gym-0, step-gym-1, ...) and a container's
# host name is its id, so the prompt and the terminal's title name a fixed user and host instead: equal states give
# equal screenshots whichever session or container an episode ran in.
case $- in *i*) ;; *) return ;; esac
PS1='user@step-gym:\w\$ '
PROMPT_COMMAND='printf "\033]0;user@step-gym: %s\007" "${PWD/#$HOME/\~}"'
# the time zone the session's timedatectl was given (step_envs/data/desktop/overrides/timedatectl)
if [ -s ~/.config/step-gym/timezone ]; then export TZ=":$(cat ~/.config/step-gym/timezone)"; fi
