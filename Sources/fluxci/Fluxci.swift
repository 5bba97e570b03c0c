import FluxCI

@main
extension FluxciCommand {}
