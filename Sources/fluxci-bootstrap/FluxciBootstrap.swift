import FluxCI

@main
extension BootstrapCommand {}
