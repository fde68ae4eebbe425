import Foundation

/// Where the `foap` executable that `swift test` built lives: next to the test binary (`…/debug/foap`).
enum FoapBinary {
    static var url: URL {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("foap")
    }
}
