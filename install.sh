#!/bin/sh
# Install tokentag into its own virtual environment and put `tokentag` on your PATH.
#
#   ./install.sh              install or upgrade; inside a git repository (other than this
#                             checkout) also run `tokentag install` there
#   ./install.sh --demo       the same, then run `tokentag demo` on the built-in sample
#   ./install.sh --uninstall  undo: remove the Claude Code hooks it registered for every
#                             repository (and, run inside one, that repository's git hooks),
#                             then the PATH link and the virtual environment
#
# Environment: TOKENTAG_HOME (default ~/.local/share/tokentag) holds the venv;
# TOKENTAG_BIN (default ~/.local/bin) gets the `tokentag` link; PYTHON picks the interpreter.
set -eu

SOURCE_DIR=$(cd "$(dirname "$0")" && pwd -P)
TOKENTAG_HOME=${TOKENTAG_HOME:-${HOME:?HOME is not set}/.local/share/tokentag}
TOKENTAG_BIN=${TOKENTAG_BIN:-$HOME/.local/bin}
VENV="$TOKENTAG_HOME/venv"
LINK="$TOKENTAG_BIN/tokentag"

say() { printf 'tokentag: %s\n' "$*"; }
die() { printf 'tokentag: %s\n' "$*" >&2; exit 1; }

find_python() {
    for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# The repository the user ran us from, unless it is this checkout itself.
target_repository() {
    top=$(git rev-parse --show-toplevel 2>/dev/null) || return 1
    [ "$(cd "$top" && pwd -P)" != "$SOURCE_DIR" ]
}

install_tokentag() {
    command -v git >/dev/null 2>&1 || die "git is required but was not found on PATH"
    python=$(find_python) || die "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating a virtual environment in $VENV"
        mkdir -p "$TOKENTAG_HOME"
        "$python" -m venv "$VENV" || die "could not create a virtual environment (on Debian: apt-get install python3-venv)"
    fi
    say "installing tokentag from $SOURCE_DIR"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$SOURCE_DIR" \
        || die "pip could not install tokentag (is the package registry reachable?)"
    mkdir -p "$TOKENTAG_BIN"
    ln -sf "$VENV/bin/tokentag" "$LINK"
    say "linked $LINK"
    case ":$PATH:" in
        *":$TOKENTAG_BIN:"*) ;;
        *) say "$TOKENTAG_BIN is not on your PATH: add this line to your shell's startup file" \
               "(~/.bashrc, ~/.zshrc, ~/.profile), then open a new shell:"
           say "    export PATH=\"$TOKENTAG_BIN:\$PATH\"" ;;
    esac
    if target_repository; then
        "$VENV/bin/tokentag" install
    fi
}

uninstall_tokentag() {
    # The user-scope hooks serve every repository, wherever this runs. Git hooks left in
    # other repositories find no tokentag once the venv is gone, and then do nothing.
    if [ -x "$VENV/bin/tokentag" ]; then
        if target_repository; then
            "$VENV/bin/tokentag" uninstall --all
        else
            "$VENV/bin/tokentag" uninstall --scope user
        fi
    fi
    if [ -L "$LINK" ]; then
        rm -f "$LINK"
        say "removed $LINK"
    fi
    if [ -d "$VENV" ]; then
        rm -rf "$VENV"
        rmdir "$TOKENTAG_HOME" 2>/dev/null || true
        say "removed $VENV"
    fi
}

case "${1:-}" in
    --uninstall) uninstall_tokentag ;;
    --demo) install_tokentag; "$VENV/bin/tokentag" demo ;;
    "") install_tokentag ;;
    *) die "unknown option: $1 (use --demo or --uninstall)" ;;
esac
