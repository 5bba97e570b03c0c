import FluxCI

@main
extension AnnotateCommand {}
