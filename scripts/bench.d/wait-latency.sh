# How soon the waiter notices a Ready condition: fluxci's watch against polling every 2 s (as the
# flux CLI waits), both against the fake API server (a stand-in), in one program. Sourced by scripts/bench.
swift build -c release --product fluxci-bench-wait >/dev/null 2>&1 || swift build -c release --target fluxci-bench-wait >/dev/null
read -r watched polled < <("$(swift build -c release --show-bin-path)/fluxci-bench-wait" 7)
row "notice Ready (median of 7)" "$watched" "polling every 2 s" "$polled" "time from Ready=True to the waiter seeing it"
# The same through the waiter fluxci runs, for a HelmRelease set Ready=True as helm-controller sets it.
read -r watched polled < <("$(swift build -c release --show-bin-path)/fluxci-bench-wait" 7 helmrelease)
row "notice HelmRelease Ready (median of 7)" "$watched" "polling every 2 s" "$polled" "time from Ready=True to fluxci's waiter seeing it"
