import FluxCI

@main
extension KeysCommand {}
