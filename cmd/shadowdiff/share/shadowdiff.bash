# bash completion for shadowdiff.
# Commands and flags are read from the installed binary's own help, so they never go stale.

_shadowdiff()
{
    local cur prev cmd words
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        words=$("${COMP_WORDS[0]}" --help 2>/dev/null |
                sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p')
        COMPREPLY=($(compgen -W "$words help" -- "$cur"))
        return
    fi
    cmd=${COMP_WORDS[1]}
    case "$prev" in
    -r | --pcap | -c | --config | -o | --out | -d | --db | --corpus | --junit | \
        --redact-key | --openapi | --into)
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
    -i | --interface)
        COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))
        return
        ;;
    esac
    if [ "$cmd" = help ]; then
        words=$("${COMP_WORDS[0]}" --help 2>/dev/null |
                sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p')
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
        return
    fi
    if [[ "$cur" == -* ]]; then
        words=$("${COMP_WORDS[0]}" "$cmd" --help 2>&1 |
                grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _shadowdiff shadowdiff
