import Kube

/// The command-line flags the flux-system components start a Flux controller with, read from
/// its Deployment's containers (what `flux install` writes, plus any patch of the flux-system
/// kustomization.yaml, as in fluxcd/flux2-multi-tenancy's lockdown). The controllers parse them
/// with spf13/pflag: `--name=value`, `--name value`, and for a boolean a bare `--name` is true.
struct ControllerFlags {
    /// The flags of the `manager` container (else the first), in order.
    let arguments: [String]

    init(_ controller: String, in components: [KubeObject]) {
        let deployment = components.first { $0.kind == "Deployment" && $0.apiVersion == "apps/v1" && $0.name == controller }
        let containers = deployment?.json["spec", "template", "spec", "containers"]?.array ?? []
        let container = containers.first { $0["name"]?.string == "manager" } ?? containers.first
        arguments = (container?["args"]?.array ?? []).compactMap(\.string)
    }

    /// The value of `--name` (the last one given wins, as pflag sets it again), nil when absent.
    /// A `boolean` flag never takes the next argument as its value (pflag's NoOptDefVal).
    func value(_ name: String, boolean: Bool = false) -> String? {
        var found: String?
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument.hasPrefix("--\(name)=") {
                found = String(argument.dropFirst(name.count + 3))
            } else if argument == "--\(name)" {
                let next = arguments.index(after: index)
                if !boolean, next < arguments.endIndex, !arguments[next].hasPrefix("-") {
                    found = arguments[next]
                    index = next
                } else {
                    found = "true"
                }
            }
            index = arguments.index(after: index)
        }
        return found
    }

    /// A boolean flag, as Go's strconv.ParseBool reads it (pflag's bool value).
    func isSet(_ name: String) -> Bool {
        guard let value = value(name, boolean: true) else { return false }
        return ["1", "t", "T", "TRUE", "true", "True"].contains(value)
    }
}
