#!/usr/bin/python3
"""Print every shadowdiff invocation in deploy/, one per line, as a JSON list of arguments
(the command word first). Kubernetes and Cloud Run manifests give them as container args;
the systemd unit as ExecStart (continuation lines joined, ${VAR} replaced by /x)."""
import json
import pathlib
import re
import shlex
import sys

import yaml

top = pathlib.Path(sys.argv[1])


def containers(doc):
    spec = doc.get("spec", {})
    tmpl = spec.get("template", {}).get("spec", {})
    for key in ("initContainers", "containers"):
        for c in tmpl.get(key, []) or []:
            yield c


found = 0
for path in sorted(top.rglob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        for c in containers(doc or {}):
            if "shadowdiff" in c.get("image", ""):
                print(json.dumps({"file": str(path.relative_to(top)), "args": c["args"]}))
                found += 1
for path in sorted(top.rglob("*.service")):
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            words = shlex.split(re.sub(r"\$\{[A-Z_]+\}", "/x", line[len("ExecStart="):]))
            print(json.dumps({"file": str(path.relative_to(top)), "args": words[1:]}))
            found += 1
if found == 0:
    sys.exit("no shadowdiff invocation found in " + str(top))
