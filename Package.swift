// swift-tools-version:6.0
import PackageDescription

/// How the release binary is linked on Linux, so an idle worker maps few pages of it (README "Memory"; measured with
/// bench/idle-rss). Each worker is the same binary exec'd, so every page of it a worker touches counts in that worker's
/// RSS, and the kernel maps 16 pages around each page fault in code:
/// - lld (it ships with the Swift toolchain): `-z pack-relative-relocs` stores the ~120,000 relative relocations as
///   RELR (24 KB instead of a 2.9 MB `.rela.dyn` read at every start), and `--symbol-ordering-file` puts the functions
///   a worker runs (link/foap.order, written by bench/link-order) next to each other at the start of `.text`;
/// - `--no-export-dynamic` (after the `-export-dynamic` the static Swift runtime asks for): nothing looks the
///   binary's own symbols up at run time, and the loader no longer reads 2.8 MB of `.dynsym`, `.dynstr` and
///   `.gnu.hash` at start;
/// - libstdc++ linked in (link/libstdc++.so is a linker script naming `libstdc++.a`; the static Swift runtime
///   links libstdc++ by name): only the parts the runtime uses, instead of 1.5 MB of the shared library per worker.
/// Debug builds and tests link as before.
let releaseLinking = LinkerSetting.unsafeFlags(
    [
        "-use-ld=lld",
        "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
        "-Xlinker", "--no-export-dynamic",
        "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/link/foap.order",
        "-Xlinker", "--no-warn-symbol-ordering",
        "-L\(Context.packageDirectory)/link",
    ],
    .when(platforms: [.linux], configuration: .release)
)
/// Each function in its own section in release, for the foap targets (dependencies are built as their packages say):
/// the ordering above can then move single functions, not whole files.
let functionSections = SwiftSetting.unsafeFlags(
    ["-Xfrontend", "-function-sections"], .when(platforms: [.linux], configuration: .release)
)

/// foap: the Fast OpenAI API Proxy. The target graph mirrors the process model in DESIGN.md:
/// the master (`FOAPSupervisor`) never imports the proxy or the worker's lifecycle (`FOAPWorker`), the worker never
/// imports process management. The one thing both speak, the worker channel's packets and the descriptors a worker
/// inherits, is `FOAPWorkerChannel`, which imports nothing of either. The `foap` command wires them: it validates the
/// config with `FOAPConfig` and hands the master the frozen snapshot as opaque bytes, so the master's loop is testable
/// without either; `foap worker` runs `FOAPWorker`.
let package = Package(
    name: "foap",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "foap", targets: ["foap"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(name: "CFOAPSpawn"),
        .target(name: "FOAPConfig"),
        .target(name: "FOAPJSON"),
        .target(name: "FOAPMetrics"),
        /// Per-key limits and budgets: the shared-memory region (master and workers) and admission (workers).
        /// No NIO: the master maps the region too, and never imports the proxy.
        .target(
            name: "FOAPLimits",
            dependencies: ["FOAPConfig", .product(name: "Atomics", package: "swift-atomics")]
        ),
        /// A small Redis/Valkey client on SwiftNIO (RESP3 with RESP2 fallback, pipelined, one connection per event
        /// loop) and the Functions library that makes Redis the fleet-wide authority for limits. No FOAP imports:
        /// the proxy maps its own types onto it.
        .target(
            name: "FOAPRedis",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        /// The worker channel (master ↔ each worker): its packets, sending and receiving them, the metrics chunking,
        /// and the descriptors and variables a worker inherits. Foundation-free; both processes import it.
        .target(name: "FOAPWorkerChannel"),
        .target(
            name: "FOAPSystemd",
            dependencies: [
                "CSystemd",
                "FOAPJSON",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        /// HTTP/1.1 as bytes: the client connection's response writer, and the pooled upstream connection's request
        /// writer and strict response parser. Only NIO below it, so the fuzzer builds it alone.
        .target(
            name: "FOAPHTTP1",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "FOAPProxy",
            dependencies: [
                "FOAPConfig",
                "FOAPHTTP1",
                "FOAPJSON",
                "FOAPLimits",
                "FOAPMetrics",
                "FOAPRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        /// A worker process's life: the proxy runtime, its end of the worker channel, drain and signals.
        .target(
            name: "FOAPWorker",
            dependencies: [
                "FOAPConfig",
                "FOAPLimits",
                "FOAPProxy",
                "FOAPWorkerChannel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        /// The master: one poll loop, no proxy code.
        .target(
            name: "FOAPSupervisor",
            dependencies: [
                "FOAPSystemd",
                "FOAPMetrics",
                "FOAPWorkerChannel",
                "CFOAPSpawn",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "foap",
            dependencies: [
                "FOAPConfig",
                "FOAPJSON",
                "FOAPLimits",
                "FOAPMetrics",
                "FOAPProxy",
                "FOAPRedis",
                "FOAPSupervisor",
                "FOAPSystemd",
                "FOAPWorker",
                "FOAPWorkerChannel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            linkerSettings: [releaseLinking]
        ),
        /// A throwaway `redis-server` on loopback, for every test target that needs a real Redis.
        .target(name: "RedisTestSupport", dependencies: ["FOAPRedis"], path: "Tests/Support/RedisTestSupport"),
        /// A WebSocket server (NIOWebSocket) and a hand-written client that sees the bytes, for the tunnel tests.
        .target(
            name: "WebSocketTestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/Support/WebSocketTestSupport"
        ),
        /// foap's response parser against llhttp (NIO's decoder) on a corpus, its requests against NIO's encoder.
        .testTarget(
            name: "FOAPHTTP1Tests",
            dependencies: [
                "FOAPHTTP1",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        /// Differential fuzzing of the response parser against llhttp (`scripts/fuzz-http-parser`, libFuzzer; not in CI).
        /// Built without the fuzzer, it replays the inputs named on its command line.
        .executableTarget(
            name: "foap-http-fuzz",
            dependencies: [
                "FOAPHTTP1",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Fuzz/HTTPParserFuzz"
        ),
        .testTarget(name: "FOAPConfigTests", dependencies: ["FOAPConfig"], exclude: ["Fixtures"]),
        .testTarget(
            name: "FOAPLimitsTests",
            dependencies: ["FOAPLimits", "FOAPConfig", .product(name: "Atomics", package: "swift-atomics")]
        ),
        /// The decoder against NIOTestUtils' verifier; the client and the Functions library against a real
        /// `redis-server` each test starts on a free loopback port.
        .testTarget(
            name: "FOAPRedisTests",
            dependencies: [
                "FOAPRedis",
                "RedisTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "FOAPSystemdTests",
            dependencies: ["FOAPSystemd", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "FOAPSupervisorTests",
            dependencies: [
                "FOAPSupervisor", "FOAPWorkerChannel", "CFOAPSpawn", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "FOAPWorkerChannelTests", dependencies: ["FOAPWorkerChannel", "CFOAPSpawn"]),
        .testTarget(
            name: "FOAPWorkerTests",
            dependencies: [
                "FOAPWorker",
                "FOAPWorkerChannel",
                "FOAPProxy",
                "FOAPConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "FOAPProxyTests",
            dependencies: [
                "FOAPProxy",
                "FOAPConfig",
                "FOAPLimits",
                "FOAPRedis",
                "RedisTestSupport",
                "WebSocketTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            exclude: ["Fixtures"]
        ),
        /// Starts the real `foap` binary (built by `swift test` alongside the tests) against mock upstreams.
        .testTarget(
            name: "FOAPEndToEndTests",
            dependencies: [
                "RedisTestSupport",
                "WebSocketTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
    ]
)

for target in package.targets
where (target.type == .regular || target.type == .executable) && (target.name == "foap" || target.name.hasPrefix("FOAP"))
{
    target.swiftSettings = (target.swiftSettings ?? []) + [functionSections]
}
