// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "fluxci",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fluxci", targets: ["fluxci"]),
        .executable(name: "fluxci-annotate", targets: ["fluxci-annotate"]),
        .executable(name: "fluxci-keys", targets: ["fluxci-keys"]),
        .executable(name: "fluxci-sops", targets: ["fluxci-sops"]),
        .executable(name: "fluxci-secret", targets: ["fluxci-secret"]),
        .executable(name: "fluxci-bootstrap", targets: ["fluxci-bootstrap"]),
        .executable(name: "fluxci-cluster", targets: ["fluxci-cluster"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // System libraries: a module map and a shim header each (macros and variadic calls
        // cannot be imported into Swift directly).
        .systemLibrary(
            name: "CGPGME", pkgConfig: "gpgme",
            providers: [.apt(["libgpgme-dev"]), .brew(["gpgme"])]),
        .systemLibrary(
            name: "CGit2", pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"]), .brew(["libgit2"])]),

        // Library modules, one concern each (see ../shared/ARCHITECTURE.md).
        .target(name: "Actions"),
        .target(name: "Processes"),
        .target(name: "GPG", dependencies: ["CGPGME", "Processes"]),
        .target(name: "Git", dependencies: ["CGit2"]),
        .target(name: "Age", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "Kube",
            dependencies: [
                "Yams",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(name: "Flux", dependencies: ["Actions", "Age", "Git", "GPG", "Kube", "Processes", "SOPS", "Yams"]),
        // `--serve`: one commit served read-only over git's smart HTTP (git http-backend behind SwiftNIO).
        .target(
            name: "GitServe",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(
            name: "SOPS",
            dependencies: ["Age", "GPG", "Yams", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "FluxCI",
            dependencies: [
                "Actions", "Age", "GPG", "SOPS", "Kube", "Git", "GitServe", "Flux", "Yams",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),

        // Executables: `fluxci` holds every command; the small ones run one command group each.
        .executableTarget(name: "fluxci", dependencies: ["FluxCI"]),
        .executableTarget(name: "fluxci-annotate", dependencies: ["FluxCI"]),
        .executableTarget(name: "fluxci-keys", dependencies: ["FluxCI"]),
        .executableTarget(name: "fluxci-sops", dependencies: ["FluxCI"]),
        .executableTarget(name: "fluxci-secret", dependencies: ["FluxCI"]),
        .executableTarget(name: "fluxci-bootstrap", dependencies: ["FluxCI"]),
        .executableTarget(name: "fluxci-cluster", dependencies: ["FluxCI"]),

        // Tests
        .target(
            name: "TestSupport",
            dependencies: [
                "Kube", "Yams",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/Support"),
        // zlib, only to inflate the compressed age test vectors.
        .systemLibrary(name: "CZlib", path: "Tests/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // The test suite's fake API server as a program, for scripts/bench (a stand-in, not a product).
        .executableTarget(name: "fluxci-fake-apiserver", dependencies: ["TestSupport"], path: "Tests/FakeAPIServerMain"),
        // The wait-latency benchmark (scripts/bench): watch against 2 s polling on the fake API server.
        .executableTarget(name: "fluxci-bench-wait", dependencies: ["Kube", "Flux", "Actions", "TestSupport"], path: "Tests/WaitLatencyBench"),
        .testTarget(name: "ActionsTests", dependencies: ["Actions", "TestSupport"]),
        .testTarget(name: "AgeTests", dependencies: ["Age", "CZlib", "TestSupport"]),
        .testTarget(name: "GitTests", dependencies: ["Git", "TestSupport"]),
        .testTarget(name: "KubeTests", dependencies: ["Kube", "TestSupport"]),
        .testTarget(name: "FluxTests", dependencies: ["Flux", "Kube", "Git", "Actions", "SOPS", "Age", "TestSupport"]),
        .testTarget(name: "SOPSTests", dependencies: ["SOPS", "Age", "GPG", "TestSupport"]),
        .testTarget(
            name: "FluxCITests",
            dependencies: ["FluxCI", "GitServe", "GPG", "Kube", "Age", "SOPS", .product(name: "Subprocess", package: "swift-subprocess"), .product(name: "SystemPackage", package: "swift-system"), "fluxci", "fluxci-annotate", "fluxci-keys", "fluxci-sops", "fluxci-secret", "fluxci-bootstrap", "fluxci-cluster", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
