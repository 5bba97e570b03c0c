import Foundation

/// A stand-in for `kind` (and `docker`) on PATH: it creates no cluster. It records the
/// arguments fluxci passes, keeps a list of "clusters", writes the kubeconfig of the fake API
/// server where kind would write the new cluster's, and can be told to fail.
public struct StandInKind: Sendable {
    public var directory: URL
    public var log: URL { directory.appendingPathComponent("kind.log") }
    public var state: URL { directory.appendingPathComponent("clusters") }

    /// `kubeconfig` is what "created" clusters get (the fake API server's).
    public static func install(kubeconfig: URL) throws -> StandInKind {
        let directory = try TestPaths.temporaryDirectory("fluxci-kind")
        removeAtExit(directory)
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let script = """
            #!/bin/sh
            # Stand-in for kind (fluxci tests): records arguments, creates nothing.
            dir='\(directory.path)'
            echo "$*" >> "$dir/kind.log"
            touch "$dir/clusters"
            name=fluxci; out=""; logs=""
            prev=""
            for arg in "$@"; do
              case "$prev" in --name) name=$arg;; --kubeconfig) out=$arg;; esac
              prev=$arg
            done
            case "$1 $2" in
              "get clusters") cat "$dir/clusters"; [ -s "$dir/clusters" ] || echo "No kind clusters found." >&2 ;;
              "create cluster")
                if [ -f "$dir/fail-create" ]; then echo "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \\"$name\\"" >&2; exit 1; fi
                echo "Creating cluster \\"$name\\" ..."; echo "$name" >> "$dir/clusters"; cp '\(kubeconfig.path)' "$out" ;;
              "delete cluster") [ -f "$dir/slow-delete" ] && sleep 1; grep -vx "$name" "$dir/clusters" > "$dir/clusters.new"; mv "$dir/clusters.new" "$dir/clusters"; echo "Deleting cluster \\"$name\\" ..." ;;
              "export kubeconfig") cp '\(kubeconfig.path)' "$out" ;;
              "export logs") mkdir -p "$3"; echo "stand-in logs" > "$3/kind-version.txt" ;;
              *) echo "stand-in kind: unsupported: $*" >&2; exit 2 ;;
            esac
            """
        try script.write(to: bin.appendingPathComponent("kind"), atomically: true, encoding: .utf8)
        // docker: `network inspect kind` prints network.json when a test wrote one, else what
        // docker prints for a network that does not exist.
        try """
            #!/bin/sh
            # Stand-in for docker (fluxci tests).
            dir='\(directory.path)'
            echo "docker $*" >> "$dir/docker.log"
            if [ "$1 $2 $3" = "network inspect kind" ]; then
              if [ -f "$dir/network.json" ]; then cat "$dir/network.json"; exit 0; fi
              echo "[]"; echo "Error response from daemon: network kind not found" >&2; exit 1
            fi
            exit 0
            """.write(to: bin.appendingPathComponent("docker"), atomically: true, encoding: .utf8)
        chmod(bin.appendingPathComponent("kind").path, 0o755)
        chmod(bin.appendingPathComponent("docker").path, 0o755)
        return StandInKind(directory: directory)
    }

    public var path: String { directory.appendingPathComponent("bin").path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") }
    public var calls: [String] { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
    public var clusters: [String] { ((try? String(contentsOf: state, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
    public func failCreate() throws { try Data().write(to: directory.appendingPathComponent("fail-create")) }
    /// `delete cluster` takes a second (a cleanup long enough to be signalled again).
    public func slowDelete() throws { try Data().write(to: directory.appendingPathComponent("slow-delete")) }

    /// What the stand-in docker prints for `docker network inspect kind` (nil: no such network).
    public func setNetwork(_ json: String?) throws {
        let file = directory.appendingPathComponent("network.json")
        if let json { try json.write(to: file, atomically: true, encoding: .utf8) } else { try? FileManager.default.removeItem(at: file) }
    }

    /// `docker network inspect kind` as docker prints it for a bridge network with these gateways.
    public static func network(ipv4: String?, ipv6: String?) -> String {
        var configs: [String] = []
        if let ipv6 { configs.append(#"{"Subnet": "fc00:f853:ccd:e793::/64", "Gateway": "\#(ipv6)"}"#) }
        if let ipv4 { configs.append(#"{"Subnet": "\#(ipv4.split(separator: ".").prefix(3).joined(separator: ".")).0/24", "Gateway": "\#(ipv4)"}"#) }
        return """
            [
                {
                    "Name": "kind",
                    "Id": "5ba2b3f0c4f7a3d6e1c1f3a3c5d0f9e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2",
                    "Scope": "local",
                    "Driver": "bridge",
                    "EnableIPv6": \(ipv6 != nil),
                    "IPAM": {"Driver": "default", "Options": {}, "Config": [\(configs.joined(separator: ", "))]},
                    "Internal": false,
                    "Options": {"com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.driver.mtu": "1500"},
                    "Labels": {}
                }
            ]
            """
    }
}
