import FluxCI

@main
extension ClusterCommand {}
