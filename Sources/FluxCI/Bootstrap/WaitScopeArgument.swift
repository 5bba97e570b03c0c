import ArgumentParser
import Flux

/// `--wait-for kustomizations|flux|all`.
extension WaitScope: ExpressibleByArgument {}
