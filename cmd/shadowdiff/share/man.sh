#!/bin/sh
# Build shadowdiff(1) from the binary's own help texts with help2man: the top-level help,
# then every command's --help as a section of its own, so the page never disagrees with the
# binary. Usage: man.sh BINARY OUT.1
set -eu
bin=$1
out=$2
inc=$(mktemp)
trap 'rm -f "$inc"' EXIT
{
    echo '[COMMANDS]'
    for c in $("$bin" --help | sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p'); do
        echo ".SS shadowdiff $c"
        echo '.nf'
        "$bin" "$c" --help 2>&1 | sed 's/\\/\\e/g; s/^\./\\\&./; s/^'"'"'/\\\&'"'"'/'
        echo '.fi'
    done
    echo '[SEE ALSO]'
    echo 'The README of the project: install, concepts, every flag, the results schema.'
} > "$inc"
help2man --no-info --no-discard-stderr --name 'shadow-traffic parity checker for HTTP services' \
    --include "$inc" --output "$out" "$bin"
