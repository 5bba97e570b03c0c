# Start-up of the release binary: `fluxci --version` from the archive scripts/release left in
# dist/ (statically linked Swift runtime, Foundation, libgit2, gpgme) against `kubectl version
# --client` (a statically linked Go CLI). Skipped without an archive: scripts/release makes one
# (a cold release build, 10+ minutes). Sourced by scripts/bench.
archive=$(ls dist/fluxci-*-linux-"$(uname -m)".tar.gz 2>/dev/null | tail -1 || true)
if [ -z "$archive" ]; then
  echo "release-startup: no dist/fluxci-*-linux-$(uname -m).tar.gz; run scripts/release first" >&2
else
  mkdir -p "$work/release"
  tar -xzf "$archive" -C "$work/release" --strip-components=1
  row "release binary: --version" "$(time_runs 10 "$work/release/fluxci" --version)" "kubectl version --client" "$(time_runs 10 kubectl version --client)" "$(du -h "$archive" | cut -f1) archive"
fi
