# Applying the Flux v2.6.4 components (10 CRDs, 31 objects) to a fresh API server: `fluxci apply`
# (CRDs first, waits until they are Established, then the rest, 8 at a time) against
# `kubectl apply --server-side`. Server: the test suite's fake API server (a stand-in), started
# fresh for every run; a real cluster when FLUXCI_TEST_KUBECONFIG is set (then runs re-apply).
# Sourced by scripts/bench.
swift build -c release --product fluxci-fake-apiserver >/dev/null 2>&1 || swift build -c release --target fluxci-fake-apiserver >/dev/null
fake="$(swift build -c release --show-bin-path)/fluxci-fake-apiserver"
components=../shared/testdata/flux/gotk-components-v2.6.4.yaml

apply_runs() { # N SIDE: median ms of N runs, each against a fresh server
  local n=$1 side=$2 times=()
  for _ in $(seq "$n"); do
    local kubeconfig="$work/kubeconfig" pid=""
    if [ -n "${FLUXCI_TEST_KUBECONFIG:-}" ]; then kubeconfig=$FLUXCI_TEST_KUBECONFIG; else
      rm -f "$kubeconfig"; "$fake" "$kubeconfig" >/dev/null & pid=$!
      for _ in $(seq 100); do [ -s "$kubeconfig" ] && break; sleep 0.05; done
    fi
    local t0; t0=$(now)
    if [ "$side" = fluxci ]; then
      "$FLUXCI" apply "$components" --kubeconfig "$kubeconfig" >/dev/null 2>&1 || { echo "fluxci apply failed" >&2; return 1; }
    else
      kubectl --kubeconfig "$kubeconfig" --cache-dir "$work/kube-cache-$RANDOM" apply --server-side --validate=false -f "$components" >/dev/null 2>&1 || { echo "kubectl failed" >&2; return 1; }
    fi
    times+=($(( ($(now) - t0) / 1000 )))
    [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}
row "apply gotk-components (31 objects)" "$(apply_runs 7 fluxci)" "kubectl apply --server-side" "$(apply_runs 7 kubectl)" \
  "fresh $( [ -n "${FLUXCI_TEST_KUBECONFIG:-}" ] && echo "real cluster" || echo "fake API server") each run"
