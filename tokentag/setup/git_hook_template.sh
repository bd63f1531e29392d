#!/bin/sh
# tokentag-managed-hook v1
# Written by `tokentag install` and removed by `tokentag uninstall`; edits here are lost.
# Dispatch only: the work happens in `tokentag git-hook`, which must never fail git.
# A hook that was here before is kept as "<hook name>.tokentag-chained" and run first,
# found by the hook's name: a hook manager may have renamed this file (to "post-commit.legacy",
# say) and run it from its own hook.
tokentag_hook=@HOOK@
tokentag_python=@PYTHON@
tokentag_root=@ROOT@
case $0 in
    */*) tokentag_chained="${0%/*}/$tokentag_hook.tokentag-chained" ;;
    *) tokentag_chained="$tokentag_hook.tokentag-chained" ;;
esac

# Read stdin once, because post-rewrite and pre-push lines must reach both the chained hook
# and tokentag. The "." keeps trailing newlines. A terminal means a manual run: no input.
# Hooks that get no input skip this: a `cat` costs a fork on every commit.
tokentag_piped=
tokentag_input=
case $tokentag_hook in
    post-rewrite | pre-push)
        tokentag_piped=1
        if [ ! -t 0 ]; then
            tokentag_input=$(cat; echo .)
            tokentag_input=${tokentag_input%.}
        fi ;;
esac

# Run "$@" with the hook's input.
tokentag_run() {
    if [ -n "$tokentag_piped" ]; then
        printf '%s' "$tokentag_input" | "$@"
    else
        "$@"
    fi
}

# A plain sh script is sourced in a subshell so its "$0" stays this path: hook managers
# such as husky find their helper scripts and the hook name from "$0".
tokentag_source_chained() ( . "$tokentag_chained" )

# The chained hook's exit code becomes ours (pre-push uses it to block a push).
tokentag_status=0
if [ -x "$tokentag_chained" ]; then
    tokentag_shebang=
    IFS= read -r tokentag_shebang < "$tokentag_chained"
    case $tokentag_shebang in
        '#!/bin/sh' | '#!/usr/bin/env sh')
            tokentag_run tokentag_source_chained "$@" ;;
        *)
            tokentag_run "$tokentag_chained" "$@" ;;
    esac
    tokentag_status=$?
fi

# A blocked push sends nothing, so tokentag has nothing to do after a failed pre-push.
if [ "$tokentag_status" -ne 0 ] && [ "$tokentag_hook" = pre-push ]; then
    exit "$tokentag_status"
fi

# Only a squash merge leaves tokentag anything to do before a commit: no Python otherwise.
if [ "$tokentag_hook" = prepare-commit-msg ]; then
    if [ -d .git ]; then
        tokentag_squash=.git/SQUASH_MSG
    else
        tokentag_squash=$(git rev-parse --git-path SQUASH_MSG 2>/dev/null)
    fi
    [ -f "$tokentag_squash" ] || exit "$tokentag_status"
fi

# Prefer the interpreter tokentag was installed with; fall back to PATH; else do nothing.
# The git-hook path needs only the standard library, so python starts without `site` and
# is pointed at tokentag's own directory: a commit pays a few ms less. `-P` keeps this
# repository's top off `sys.path`, where a file could stand in for a standard module.
if [ -f "$tokentag_python" ] && [ -x "$tokentag_python" ] && [ -d "$tokentag_root/tokentag" ]
then
    tokentag_run @LAUNCH@ git-hook "$tokentag_hook" "$@" || true
elif [ -f "$tokentag_python" ] && [ -x "$tokentag_python" ]; then
    tokentag_run "$tokentag_python" -E -P -m tokentag git-hook "$tokentag_hook" "$@" || true
elif command -v tokentag >/dev/null 2>&1; then
    tokentag_run tokentag git-hook "$tokentag_hook" "$@" || true
fi
exit "$tokentag_status"
