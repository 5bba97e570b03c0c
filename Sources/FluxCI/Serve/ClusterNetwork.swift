import Actions
import Foundation
import Subprocess
import SystemPackage

/// Where a cluster's pods reach the machine fluxci runs on, for `--serve`.
struct ServeAddress: Equatable {
    /// The address the listener binds (one address, never the wildcard).
    var bind: String
    /// The host the GitRepository's URL names (the same address, or a name that reaches it).
    var advertised: String

    /// `--serve-address` as given (`host.docker.internal` binds the loopback address: Docker
    /// Desktop forwards that name to the host's loopback).
    static func isWildcard(_ address: String) -> Bool {
        ["0.0.0.0", "::", "0:0:0:0:0:0:0:0", "*", ""].contains(address.trimmingCharacters(in: CharacterSet(charactersIn: "[]")))
    }

    static func explicit(_ address: String) throws -> ServeAddress {
        let bare = address.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if isWildcard(bare) {
            throw Annotation.error(
                "--serve-address \(address) is every interface of this machine: anyone who reaches it could read the repository.",
                title: "Serve address too wide", fix: "Pass the one address the cluster reaches this machine at (e.g. the kind network's gateway).")
        }
        if bare == "host.docker.internal" { return ServeAddress(bind: "127.0.0.1", advertised: bare) }
        return ServeAddress(bind: bare, advertised: bare)
    }

    /// A kind cluster's view of this machine. On Linux the kind nodes are containers on the
    /// `kind` network, and the network's gateway is an address of this machine they reach
    /// (IPv4 when the network has it, else IPv6); on Docker Desktop (macOS, Windows) the
    /// network lives inside a VM, and the containers reach the host as `host.docker.internal`.
    static func kind(_ context: CommandContext, preferIPv6: Bool = false) async throws -> ServeAddress {
        #if os(macOS) || os(Windows)
        return ServeAddress(bind: "127.0.0.1", advertised: "host.docker.internal")
        #else
        let (status, output, errors) = try await ClusterNetwork.inspect(context.environment)
        let gateways = ClusterNetwork.gateways(status == 0 ? output : "")
        guard let chosen = (preferIPv6 ? gateways.ipv6 ?? gateways.ipv4 : gateways.ipv4 ?? gateways.ipv6) else {
            let detail = errors.trimmingCharacters(in: .whitespacesAndNewlines)
            throw Annotation.error(
                "The kind network's gateway is unknown: `docker network inspect kind` \(status == 0 ? "shows no gateway" : "failed")\(detail.isEmpty ? "" : ": \(detail)").",
                title: "No kind network",
                fix: "Create the cluster with kind first (it makes the `kind` network), or pass --serve-address with an address of this machine the cluster reaches.")
        }
        return ServeAddress(bind: chosen, advertised: chosen)
        #endif
    }
}

/// The `kind` container network, as `docker network inspect kind` (or podman's) prints it.
enum ClusterNetwork {
    /// Runs `docker network inspect kind` (podman when there is no docker).
    static func inspect(_ environment: [String: String]) async throws -> (Int32, String, String) {
        var program: String?
        for name in ["docker", "podman"] where program == nil {
            for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
                let candidate = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { program = candidate; break }
            }
        }
        guard let program else {
            throw Annotation.error(
                "Neither docker nor podman is on PATH, so the kind network's gateway cannot be read.", title: "Container runtime not found",
                fix: "Install Docker, or pass --serve-address.")
        }
        var custom: [Environment.Key: String] = [:]
        for (key, value) in environment { custom[Environment.Key(stringLiteral: key)] = value }
        let result = try await Subprocess.run(
            .path(FilePath(program)), arguments: ["network", "inspect", "kind"], environment: .custom(custom),
            output: .string(limit: 4 << 20), error: .string(limit: 1 << 20))
        let status: Int32 = switch result.terminationStatus {
        case .exited(let code): Int32(code)
        case .signaled(let signal): 128 + Int32(signal)
        }
        return (status, result.standardOutput, result.standardError)
    }

    /// The gateways of the network: docker's `IPAM.Config[].Gateway` (or, when docker leaves it
    /// out, the subnet's first address, which docker assigns to the bridge) and podman's
    /// `subnets[].gateway`.
    static func gateways(_ json: String) -> (ipv4: String?, ipv6: String?) {
        guard let networks = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]], let network = networks.first else { return (nil, nil) }
        var entries: [(subnet: String?, gateway: String?)] = []
        if let ipam = network["IPAM"] as? [String: Any], let configs = ipam["Config"] as? [[String: Any]] {
            entries += configs.map { ($0["Subnet"] as? String, $0["Gateway"] as? String) }
        }
        if let subnets = network["subnets"] as? [[String: Any]] {
            entries += subnets.map { ($0["subnet"] as? String, $0["gateway"] as? String) }
        }
        var ipv4: String?, ipv6: String?
        for entry in entries {
            let gateway = entry.gateway.flatMap { $0.isEmpty ? nil : $0 } ?? entry.subnet.flatMap(firstAddress)
            guard let gateway else { continue }
            if gateway.contains(":") { ipv6 = ipv6 ?? gateway } else { ipv4 = ipv4 ?? gateway }
        }
        return (ipv4, ipv6)
    }

    /// `172.18.0.0/16` → `172.18.0.1`.
    static func firstAddress(_ subnet: String) -> String? {
        let parts = subnet.split(separator: "/")
        var octets = parts.first?.split(separator: ".").compactMap { UInt8($0) } ?? []
        guard octets.count == 4, octets[3] < 255 else { return nil }
        octets[3] += 1
        return octets.map(String.init).joined(separator: ".")
    }
}
