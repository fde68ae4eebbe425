// swift-tools-version:6.0
import PackageDescription

/// The floor of a SwiftNIO proxy: a TCP byte relay on one event loop, no HTTP (bench/floor-run measures it next to
/// nginx and foap). Its own package so that the main one gains nothing; swift-nio at the main package's requirement.
let package = Package(
    name: "nio-floor",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "nio-floor-relay", targets: ["nio-floor-relay"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3")
    ],
    targets: [
        .executableTarget(
            name: "nio-floor-relay",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        )
    ]
)
