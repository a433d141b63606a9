"""What hostops hands to a host's login shell, whatever that shell is.

sshd (and dropbear) run a command as ``$SHELL -c COMMAND``, and login shells do not
agree on quoting: tcsh expands ``!`` (history) even inside single quotes and refuses
a newline in them, fish takes backslashes in single quotes as escapes, its ``kill``
and tcsh's do not take ``kill -s TERM -- -PGID``. So the login shell is given nothing
but ``exec /bin/sh -c PRELUDE hostops SCRIPT ARG...``, each word single-quoted, and
with no ``!``, backslash or newline in it: a word that has any is sent ``%XX``-encoded
and decoded by the prelude (with awk). From there on everything is POSIX sh.

With ``own_group``, the prelude also makes sure the script leads a process group of
its own, so that its group can be signalled as a whole: OpenSSH starts every
session's command in a new session, dropbear does not (its shell shares the group of
dropbear's per-connection process), so where ``$$`` is not a group leader the
script is re-run under ``setsid`` (or Perl's POSIX::setsid where there is no setsid).
"""

from __future__ import annotations

import shlex

# Bytes a login shell may change inside single quotes (tcsh: ! and newline; fish: \),
# and % (the escape itself). Anything else is sent as it is.
_SPECIAL = frozenset(b"%!\\\n\r")
# Decode %XX on every positional parameter (LC_ALL=C: awk prints the byte itself).
_DECODE = (
    'n=$#; while [ "$n" -gt 0 ]; do a=$1; shift; set -- "$@" "$(printf %s "$a" |'
    " LC_ALL=C awk -v H=0123456789ABCDEF '{n=length($0); for (i = 1; i <= n; i++) {"
    ' c=substr($0,i,1); if (c == "%") { printf "%c", (index(H,substr($0,i+1,1))-1)*16'
    ' + index(H,substr($0,i+2,1))-1; i += 2 } else printf "%s", c } }\')"; n=$((n-1)); done; '
)
_RUN = 's=$1; shift; eval "$s"'
# kill -0 on -$$ succeeds only when a process group $$ exists, i.e. $$ leads one.
_OWN_GROUP = (
    "kill -s 0 -- -$$ 2>/dev/null || {"
    f" if command -v setsid >/dev/null 2>&1; then exec setsid /bin/sh -c '{_RUN}' hostops \"$@\";"
    " elif command -v perl >/dev/null 2>&1; then exec perl -MPOSIX -e"
    f" 'POSIX::setsid(); exec @ARGV' /bin/sh -c '{_RUN}' hostops \"$@\"; fi; }}; "
)


def login_command(script: str, *args: str, own_group: bool = False) -> str:
    """The command line for a login shell of any kind that runs ``script`` with
    /bin/sh, ``args`` as its ``$1``, ``$2``...; with ``own_group``, as the leader of
    a process group (see the module docstring)."""
    words = [script, *args]
    encode = any(_SPECIAL.intersection(w.encode("utf-8", "surrogateescape")) for w in words)
    prelude = (_DECODE if encode else "") + (_OWN_GROUP if own_group else "") + _RUN
    sent = [_encode(w) if encode else w for w in words]
    return " ".join(["exec /bin/sh -c", shlex.quote(prelude), "hostops", *map(shlex.quote, sent)])


def _encode(word: str) -> str:
    return "".join(
        f"%{b:02X}" if b in _SPECIAL or b >= 0x80 else chr(b)
        for b in word.encode("utf-8", "surrogateescape")
    )
