import FluxCI

@main
extension SecretCommand {}
