import FluxCI

/// `fluxci`, and every small executable when run through a link named after it: the release
/// archive ships `fluxci-keys`, `fluxci-sops`, … as symbolic links to this one binary (one
/// statically linked copy instead of seven), the way multi-call binaries such as busybox choose
/// their applet by the name they were started as.
@main
enum Fluxci {
    static func main() async {
        let name = (CommandLine.arguments.first ?? "").split(separator: "/").last.map(String.init) ?? ""
        switch name {
        case "fluxci-annotate": await AnnotateCommand.main()
        case "fluxci-keys": await KeysCommand.main()
        case "fluxci-sops": await SOPSCommand.main()
        case "fluxci-secret": await SecretCommand.main()
        case "fluxci-bootstrap": await BootstrapCommand.main()
        case "fluxci-cluster": await ClusterCommand.main()
        default: await FluxciCommand.main()
        }
    }
}
