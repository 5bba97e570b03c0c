import FluxCI

@main
extension SOPSCommand {}
