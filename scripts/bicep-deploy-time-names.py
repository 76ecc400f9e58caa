#!/usr/bin/env python3
"""Bicep rule BCP120, checked without a Bicep CLI: the `name` of a resource or module must be
computable when the deployment starts. A resource's `.properties`, `.identity` or a module's
`.outputs` are only known at run time, so `name: guid(x.id, app.identity.principalId, role)` is
refused by `bicep build` (and hence by `azd up`). The usual fix is a module that receives the
principal id as a parameter.

Usage: bicep-deploy-time-names.py <dir>...   Exit status 1 and one line per finding."""
import pathlib
import re
import sys

DECL = re.compile(r"^(resource|module)\s+(\w+)\s+'[^']+'")
RUNTIME = r"\b({syms})\.(properties|identity|outputs)\b"


def findings(path):
    lines = path.read_text().splitlines()
    symbols = [m.group(2) for m in map(DECL.match, lines) if m]
    if not symbols:
        return
    runtime = re.compile(RUNTIME.format(syms="|".join(map(re.escape, symbols))))
    for i, line in enumerate(lines):
        m = DECL.match(line)
        if not m or not line.rstrip().endswith("{"):
            continue
        # The body's own `name:` is the first property at two spaces of indentation.
        for j in range(i + 1, len(lines)):
            body = lines[j]
            if body.startswith("}") or body.startswith("}]"):
                break
            if re.match(r"^  name:", body):
                hit = runtime.search(body) or re.search(r"\b(reference|list\w*)\(", body)
                if hit:
                    yield j + 1, m.group(2), hit.group(0)
                break


def main():
    bad = 0
    files = sorted(f for d in sys.argv[1:] for f in pathlib.Path(d).rglob("*.bicep"))
    for path in files:
        for line, symbol, expr in findings(path):
            bad += 1
            print(
                f"{path}:{line}: BCP120: the name of '{symbol}' uses '{expr}', which is known only "
                "at run time; pass it to a module as a parameter",
                file=sys.stderr,
            )
    print(f"check-infra.sh: deploy-time names checked in {len(files)} files, {bad} findings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
