#!/bin/sh
# Build an OCI image of shadowdiff from this project's build, with podman, and print its tag.
#
#   deploy/image.sh [TAG]        (BUILD=build by default: the CMake build tree to take from)
#
# No base image is pulled and nothing runs inside a container: the image is a root filesystem
# assembled here and imported as one layer. It holds the stripped binary with the file
# capability cap_net_raw+ep (so a non-root container can capture once its securityContext
# adds NET_RAW), the shared libraries it links, the dynamic loader, CA certificates, and a
# non-root user `shadowdiff` (uid and gid 65532) that the image runs as.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${BUILD:-$top/build}
bin=$build/shadowdiff
[ -x "$bin" ] || { echo "image.sh: no binary at $bin (build first, or set BUILD)" >&2; exit 2; }
version=$("$bin" --version | sed -n 's/^shadowdiff //p')
tag=${1:-localhost/shadowdiff:$version}
for tool in podman setcap strip ldd tar gzip; do
    command -v "$tool" >/dev/null || { echo "image.sh: $tool is needed" >&2; exit 2; }
done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/var/lib/shadowdiff"
chmod 1777 "$root/tmp"
strip -o "$root/usr/bin/shadowdiff" "$bin"
# every library the binary loads, under the path the loader looks for (the soname link),
# as the real file
ldd "$bin" | awk '/=> \//{print $3} /^[[:space:]]*\/.*ld-linux/{print $1}' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nshadowdiff:x:65532:65532:shadowdiff:/var/lib/shadowdiff:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nshadowdiff:x:65532:\nnogroup:x:65534:\n' >"$root/etc/group"
chown 65532:65532 "$root/var/lib/shadowdiff"
setcap cap_net_raw+ep "$root/usr/bin/shadowdiff"

tarball=$root.tar
tar --xattrs --xattrs-include='security.capability' --numeric-owner -C "$root" -cf "$tarball" .
podman import --quiet \
    --change 'USER 65532:65532' \
    --change 'WORKDIR /var/lib/shadowdiff' \
    --change 'ENV TMPDIR=/tmp' \
    --change 'ENTRYPOINT ["/usr/bin/shadowdiff"]' \
    --change "LABEL org.opencontainers.image.title=shadowdiff org.opencontainers.image.version=$version org.opencontainers.image.licenses=Apache-2.0" \
    "$tarball" "$tag" >/dev/null
raw=$(stat -c %s "$tarball")
packed=$(gzip -c "$tarball" | wc -c)
rm -f "$tarball"
echo "image.sh: $tag: $((raw / 1024)) KiB uncompressed, $((packed / 1024)) KiB compressed" >&2
echo "$tag"
