# How soon the waiter notices a Ready condition: fluxci's watch against polling every 2 s (as the
# flux CLI waits), both against the fake API server (a stand-in), in one program. Sourced by scripts/bench.
# With FLUXCI=path/to/fluxci, the fluxci-bench-wait built beside it (same build, same configuration).
bench_wait="$(dirname "$FLUXCI")/fluxci-bench-wait"
if [ ! -x "$bench_wait" ]; then
  swift build -c release --product fluxci-bench-wait >/dev/null 2>&1 || swift build -c release --target fluxci-bench-wait >/dev/null
  bench_wait="$(swift build -c release --show-bin-path)/fluxci-bench-wait"
fi
echo "wait-latency: $bench_wait, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
read -r watched polled < <("$bench_wait" 7)
row "notice Ready (median of 7)" "$watched" "polling every 2 s" "$polled" "time from Ready=True to the waiter seeing it"
# The same through the waiter fluxci runs, for a HelmRelease set Ready=True as helm-controller sets it
# (its breakdown, where the time goes, on standard error).
read -r watched polled < <("$bench_wait" 7 helmrelease)
row "notice HelmRelease Ready (median of 7)" "$watched" "polling every 2 s" "$polled" "time from Ready=True to fluxci's waiter seeing it"
