#!/usr/bin/env python3
"""Narrows a terraform-provider-aws source tree to the services terraform/ uses.

Run by infra/lib/build-terraform-providers.sh on its own copy of the module:
  narrow-aws-provider.py <source dir> <service package>...

Two generated files decide what a build compiles:
- internal/provider/sdkv2/service_packages_gen.go registers every service
  package (~260); it is rewritten to register the given ones only.
- internal/conns/awsclient_gen.go has an AWSClient method per AWS SDK client
  (264), so it imports every aws-sdk-go-v2 service package whatever is
  registered: 860 SDK packages to compile where the module needs about a
  tenth. It is rewritten to keep only the methods some compiled package of
  the provider calls (EC2Client, IAMClient, ... read from their sources
  after the first rewrite), and the imports those keep.

A method dropped that something still calls fails the build loudly
("AWSClient has no field or method ..."), never the provider at run time.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

MODULE = "github.com/hashicorp/terraform-provider-aws"


def write_service_packages(src: Path, services: list[str]) -> None:
    lines = [
        "// Narrowed by infra/lib/narrow-aws-provider.py: only the services terraform/ uses.",
        "package sdkv2",
        "import (",
        '  "context"',
        '  "slices"',
        f'  "{MODULE}/internal/conns"',
        *[f'  "{MODULE}/internal/service/{s}"' for s in services],
        ")",
        "func servicePackages(ctx context.Context) []conns.ServicePackage {",
        "  v := []conns.ServicePackage{",
        *[f"    {s}.ServicePackage(ctx)," for s in services],
        "  }",
        "  return slices.Clone(v)",
        "}",
    ]
    (src / "internal/provider/sdkv2/service_packages_gen.go").write_text("\n".join(lines) + "\n")


def provider_package_dirs(src: Path) -> list[Path]:
    """The directories of the provider's own packages the build compiles."""
    out = subprocess.run(
        ["go", "list", "-e", "-deps", "-json=ImportPath,Dir", "."],
        cwd=src,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    dirs = []
    for doc in re.split(r"(?<=\})\s*(?=\{)", out.strip()):
        pkg = json.loads(doc)
        if pkg["ImportPath"].startswith(MODULE + "/"):
            dirs.append(Path(pkg["Dir"]))
    return dirs


METHOD = re.compile(
    r"^func \(c \*AWSClient\) (\w+Client)\(ctx context\.Context\) \*(\w+)\.Client \{\n.*?^\}\n\n?",
    re.M | re.S,
)
IMPORT = re.compile(r'^\t(?:(\w+) )?"github\.com/aws/aws-sdk-go-v2/service/([\w/-]+)"\n', re.M)


def narrow_clients(src: Path) -> tuple[int, int]:
    gen = src / "internal/conns/awsclient_gen.go"
    original = gen.read_text()
    methods = {m.group(1) for m in METHOD.finditer(original)}
    # Listed with no client at all first, so listing does not fetch the 264 SDK modules it drops.
    gen.write_text(rewrite(original, set()))
    called: set[str] = set()
    for d in provider_package_dirs(src):
        for f in d.glob("*.go"):
            if f.name.endswith("_test.go") or f == gen:
                continue
            called.update(m for m in re.findall(r"\b(\w+Client)\(", f.read_text()) if m in methods)
    gen.write_text(rewrite(original, called))
    return len(called), len(methods)


def rewrite(text: str, keep_methods: set[str]) -> str:
    """awsclient_gen.go with only `keep_methods` and the SDK imports they use."""
    aliases = set()

    def keep(m: re.Match) -> str:
        if m.group(1) in keep_methods:
            aliases.add(m.group(2))
            return m.group(0)
        return ""

    text = METHOD.sub(keep, text)

    def keep_import(m: re.Match) -> str:
        alias = m.group(1) or m.group(2).split("/")[-1]
        return m.group(0) if alias in aliases else ""

    text = IMPORT.sub(keep_import, text)
    return "// Narrowed by infra/lib/narrow-aws-provider.py: only the clients the compiled packages call.\n" + text


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: narrow-aws-provider.py <source dir> <service package>...")
    src = Path(sys.argv[1])
    services = sys.argv[2:]
    for s in services:
        if not (src / "internal/service" / s).is_dir():
            sys.exit(f"terraform-provider-aws has no service package {s}")
    write_service_packages(src, services)
    kept, of = narrow_clients(src)
    print(f"registered {len(services)} service packages; kept {kept} of {of} AWS SDK clients")


if __name__ == "__main__":
    main()
