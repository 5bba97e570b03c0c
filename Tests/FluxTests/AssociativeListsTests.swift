import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t20 F2: server-side apply refuses a keyed list (`x-kubernetes-list-type: map` in the
/// Kubernetes OpenAPI) with a key twice: two ports 80/TCP (protocol defaulted), an env name
/// twice, two containers of one name; each at the repeated entry. The same port over TCP and
/// UDP, and distinct names, pass.
@Suite struct AssociativeListsTests {
    @Test func aKeyWrittenTwiceIsRefusedAtTheSecondEntry() async throws {
        let deployment = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: default}
            spec:
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec:
                  containers:
                    - name: web
                      image: nginx
                      ports:
                        - {containerPort: 80, name: http}
                        - {containerPort: 80, protocol: TCP, name: metrics}
                        - {containerPort: 53, protocol: UDP, name: dns}
                        - {containerPort: 53, protocol: TCP, name: dns-tcp}
                      env:
                        - {name: A, value: "1"}
                        - {name: A, value: "2"}
                    - name: web
                      image: nginx

            """
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/web.yaml": deployment,
        ])
        defer { fleet.remove() }
        let duplicates = try fleet.read().problems.filter { $0.title == "Duplicate list entry" }
        #expect(Set(duplicates.compactMap(\.location?.line)) == [14, 19, 20], "\(duplicates)")
        let port = try #require(duplicates.first { $0.location?.line == 14 })
        #expect(port.level == .error && port.message.contains(#"spec.template.spec.containers[0].ports[1] repeats the key [containerPort=80,protocol="TCP"] of spec.template.spec.containers[0].ports[0]"#), "\(port.message)")
    }
}
