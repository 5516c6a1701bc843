#!/usr/bin/env bash
# Packs the ConvGen NuGet package and installs it the way a user would: a fresh `dotnet new console` project that
# references only the package (from artifacts/packages, a local folder feed, plus the machine's usual sources), builds
# an annotated network and runs it. Then a copy with a channel mismatch must fail to build with CG0004 and no other
# error, which shows that the generator inside the package runs in the consumer's compiler.
# Exit status: 0 when every check passed; non-zero, with a `package-test: FAIL:` line saying what, otherwise.
# Set KEEP_PACKAGE_TEST=1 to keep the temporary consumer projects for inspection.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
feed=$root/artifacts/packages

say() { echo "package-test: $*"; }
fail() {
    echo "package-test: FAIL: $*" >&2
    exit 1
}
started=$SECONDS
phase_started=$SECONDS
phase() {
    say "$1 ($((SECONDS - phase_started)) s)"
    phase_started=$SECONDS
}

work=$(mktemp -d "${TMPDIR:-/tmp}/convgen-package-test.XXXXXX")
cleanup() {
    if [ "${KEEP_PACKAGE_TEST:-0}" = 1 ]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# --- 1. Pack -----------------------------------------------------------------------------------------------------
mkdir -p "$feed"
pack_log=$work/pack.log
if ! dotnet pack runtime/ConvGen.csproj -c Release -o "$feed" >"$pack_log" 2>&1; then
    cat "$pack_log" >&2
    fail "dotnet pack runtime/ConvGen.csproj failed"
fi
nupkg=$(sed -n "s/.*Successfully created package '\(.*ConvGen\.[^/]*\.nupkg\)'.*/\1/p" "$pack_log" | tail -n 1)
[ -n "$nupkg" ] && [ -f "$nupkg" ] || { cat "$pack_log" >&2; fail "dotnet pack reported no ConvGen .nupkg"; }
version=$(basename "$nupkg" .nupkg)
version=${version#ConvGen.}
phase "packed $(basename "$nupkg")"

# --- 2. What the package holds --------------------------------------------------------------------------------------
listing=$(unzip -Z1 "$nupkg") || fail "cannot list $nupkg"
required=(
    ConvGen.nuspec
    README.md
    lib/net10.0/ConvGen.dll
    lib/net10.0/ConvGen.xml
    analyzers/dotnet/cs/ConvGen.Generator.dll
    build/ConvGen.props
    buildTransitive/ConvGen.props
    docs/getting-started.md
    docs/diagnostics/CG0004.md
)
if [ -f codefixes/ConvGen.CodeFixes.csproj ]; then
    required+=(analyzers/dotnet/cs/ConvGen.CodeFixes.dll)
fi
for entry in "${required[@]}"; do
    grep -qxF "$entry" <<<"$listing" || fail "$(basename "$nupkg") lacks $entry"
done
# Every docs/**/*.md of the repository is in the package, at the same relative path.
while IFS= read -r doc; do
    grep -qxF "$doc" <<<"$listing" || fail "$(basename "$nupkg") lacks $doc"
done < <(find docs -type f -name '*.md' | sort)
# The generator and code fixes are analyzers only: never in lib/, never package dependencies.
if grep -E '^lib/.*ConvGen\.(Generator|CodeFixes)' <<<"$listing"; then
    fail "an analyzer assembly is packed under lib/"
fi
nuspec=$(unzip -p "$nupkg" ConvGen.nuspec)
if grep -E '<dependency ' <<<"$nuspec"; then
    fail "the package has dependencies (the runtime needs none; the generator must not be one)"
fi
for field in '<id>ConvGen</id>' '<license type="expression">MIT</license>' '<readme>README.md</readme>' '<description>'; do
    grep -qF "$field" <<<"$nuspec" || fail "the nuspec lacks $field"
done
unzip -p "$nupkg" build/ConvGen.props | grep -q '<AllowUnsafeBlocks' || fail "build/ConvGen.props does not set AllowUnsafeBlocks"
phase "package layout and metadata OK ($(wc -l <<<"$listing") files)"

# --- 3. A fresh consumer ------------------------------------------------------------------------------------------
# A private global packages folder: nothing stale from an earlier pack of the same version can be picked up, and the
# user's cache is left alone. nuget.config adds the local feed; without <clear/> the machine's own sources (user and
# machine NuGet.Config) still apply, so anything the SDK needs from a registry resolves as usual.
export NUGET_PACKAGES=$work/nuget-packages
cat >"$work/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="convgen-local" value="$feed" />
  </packageSources>
</configuration>
EOF
say "package sources seen by the consumer:"
(cd "$work" && dotnet nuget list source) | sed 's/^/    /'

app=$work/app
dotnet new console -o "$app" -n PackageTest --framework net10.0 --no-restore >"$work/new.log" 2>&1 ||
    { cat "$work/new.log" >&2; fail "dotnet new console failed"; }
(cd "$app" && dotnet add package ConvGen --version "$version" >"$work/add.log" 2>&1) ||
    { cat "$work/add.log" >&2; fail "dotnet add package ConvGen --version $version failed"; }
[ -f "$NUGET_PACKAGES/convgen/$version/convgen.$version.nupkg" ] ||
    fail "ConvGen $version was not restored from the local feed"
if grep -q AllowUnsafeBlocks "$app/PackageTest.csproj"; then
    fail "the consumer project sets AllowUnsafeBlocks itself; the test needs the package's props to do it"
fi
phase "console project created, ConvGen $version added"

# One file, as a user would write it: top-level statements plus an annotated network.
cat >"$app/Program.cs" <<'EOF'
using System;
using System.Linq;
using ConvGen;

var net = new TinyNet(seed: 42);
Console.WriteLine(TinyNet.Summary());

const int batch = 2;
var input = new float[batch * TinyNet.InputLength];
for (int i = 0; i < input.Length; i++) input[i] = MathF.Sin(i * 0.37f);
var output = new float[batch * TinyNet.OutputLength];
net.Forward(input, output, batch);
var again = new float[output.Length];
net.Forward(input, again, batch);

for (int n = 0; n < batch; n++)
{
    var row = output.Skip(n * TinyNet.OutputLength).Take(TinyNet.OutputLength).Select(v => v.ToString("F5"));
    Console.WriteLine($"output[{n}]: {string.Join(" ", row)}");
}

if (!output.All(float.IsFinite)) { Console.Error.WriteLine("output is not finite"); return 1; }
if (output.All(v => v == 0f)) { Console.Error.WriteLine("output is all zero"); return 1; }
if (!output.AsSpan().SequenceEqual(again)) { Console.Error.WriteLine("two Forward calls disagree"); return 1; }
Console.WriteLine("forward OK");
return 0;

[Input(3, 12, 12)]
[Conv(3, 3, pad: 1, @in: 3, @out: 8), Relu, MaxPool(2)]
[Conv(3, 3, @in: 8, @out: 16), Relu, GlobalAvgPool]
[Flatten, Linear(16, 4)]
public partial class TinyNet;
EOF

build_log=$work/build.log
if ! (cd "$app" && dotnet build -c Release >"$build_log" 2>&1); then
    cat "$build_log" >&2
    fail "the consumer project does not build against the package"
fi
if [ -e "$app/bin/Release/net10.0/ConvGen.Generator.dll" ]; then
    fail "ConvGen.Generator.dll was copied to the consumer's output: the generator became a lib dependency"
fi
[ -e "$app/bin/Release/net10.0/ConvGen.dll" ] || fail "ConvGen.dll is not in the consumer's output"
warnings=$(grep -cE 'warning [A-Z]+[0-9]+' "$build_log" || true)
if [ "$warnings" -gt 0 ]; then
    say "the consumer build printed warnings:"
    grep -E 'warning [A-Z]+[0-9]+' "$build_log" | sort -u | sed 's/^/    /'
fi
phase "consumer built"

run_log=$work/run.log
if ! (cd "$app" && dotnet run -c Release --no-build >"$run_log" 2>&1); then
    cat "$run_log" >&2
    fail "the consumer program failed"
fi
sed 's/^/    /' "$run_log"
grep -qx 'forward OK' "$run_log" || fail "the consumer program did not print 'forward OK'"
grep -q 'Conv' "$run_log" || fail "Summary() printed no Conv layer"
phase "consumer ran"

# --- 4. A broken consumer: the generator's diagnostics reach the user's build ---------------------------------------
broken=$work/broken
mkdir -p "$broken"
cp "$app/PackageTest.csproj" "$broken/"
# The second Conv now declares 6 input channels where the first produces 8.
sed 's/\[Conv(3, 3, @in: 8, @out: 16)/[Conv(3, 3, @in: 6, @out: 16)/' "$app/Program.cs" >"$broken/Program.cs"
grep -qF '@in: 6, @out: 16' "$broken/Program.cs" || fail "could not make the broken copy of Program.cs"
broken_log=$work/broken.log
if (cd "$broken" && dotnet build -c Release >"$broken_log" 2>&1); then
    cat "$broken_log" >&2
    fail "the broken consumer (channel mismatch) built; expected error CG0004"
fi
grep -E 'error CG0004' "$broken_log" | sort -u | sed 's/^/    /'
grep -qE 'Program\.cs\([0-9]+,[0-9]+\): error CG0004' "$broken_log" ||
    { cat "$broken_log" >&2; fail "the broken consumer failed, but not with CG0004 on Program.cs"; }
# Program.cs uses TinyNet's members (constructor, Summary, InputLength, Forward): the network's stub keeps them defined,
# so CG0004 must be the only error, not the first of a cascade of CS0117/CS1061/CS1729.
if grep -E ': error ' "$broken_log" | grep -vqE ': error CG0004'; then
    grep -E ': error ' "$broken_log" | sort -u | sed 's/^/    /' >&2
    fail "the broken consumer reported errors other than CG0004"
fi
phase "broken consumer failed with CG0004 and nothing else, as expected"

say "OK: ConvGen $version packs, installs, generates, runs and reports diagnostics ($((SECONDS - started)) s)"
