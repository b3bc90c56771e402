# Read by `make shell` when your shell is bash: your own ~/.bashrc first, then .venv's activate
# script, so .venv/bin stays first on PATH even when ~/.bashrc puts its own folders in front
# (pyenv, cargo, ...).
# shellcheck source=/dev/null
[[ -f ~/.bashrc ]] && source ~/.bashrc
source .venv/bin/activate  # make runs this from the checkout's root
